"""GenRL world models + connectors + behaviours as Hub folders: exact round trips through save_pretrained /
from_pretrained, push_to_hub checked on a fake HfApi, from_pretrained("owner/name") from a local Hub cache with
HF_HUB_OFFLINE=1, training checkpoints converted, and bad folders refused."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("huggingface_hub")

from agents.checkpoints import CheckpointError, KeyMismatchError  # noqa: E402
from agents.genrl.connector import Connector, ConnectorConfig  # noqa: E402
from agents.genrl.pretrained import GenRLPretrained  # noqa: E402
from agents.model_card import ModelCardInfo  # noqa: E402
from agents.sb3 import KLPPO  # noqa: E402
from tests.support.genrl_agent import save_tiny_genrl_agent, tiny_genrl_agent  # noqa: E402
from tests.support.hub_cache import FakeHfApi, offline_hub_cache, put_in_hub_cache  # noqa: E402

CARD = ModelCardInfo(task="walker stand from the prompt 'a person standing'",
                     training={"world model updates": 500, "behaviour updates": 100, "config": "small"},
                     evaluation={"mean return (10 episodes)": 412.0})


def _equal(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def full() -> GenRLPretrained:
    wm, ac = tiny_genrl_agent(action_dim=2, seed=1)
    torch.manual_seed(2)
    conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16))
    return GenRLPretrained(wm, conn, ac, torch.randn(16), prompt="a person standing", vlm="clip")


def test_folder_round_trip_is_exact_and_carded(tmp_path, full):
    folder = full.save_pretrained(tmp_path / "m", CARD)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "behaviour.safetensors", "config.json",
                                                         "connector.safetensors", "world_model.safetensors"]
    back = GenRLPretrained.from_pretrained(folder)
    _equal(full.world_model, back.world_model)
    _equal(full.connector, back.connector)
    _equal(full.behaviour, back.behaviour)
    assert torch.equal(back.prompt_embedding, full.prompt_embedding)
    assert (back.prompt, back.vlm) == ("a person standing", "clip")
    card = (folder / "README.md").read_text()
    assert "| world model updates | 500 |" in card and "| mean return (10 episodes) | 412.0 |" in card
    assert "world model, connector, behaviour" in card and "'clip'" in card
    # the loaded parts work: the behaviour acts, the MFWM scores a prompt embedding
    policy = back.policy(num_envs=1)
    frame = np.zeros((1, 64, 64, 3), np.uint8)
    policy.reset(frame)
    assert policy.act(frame).shape == (1, 2)
    assert back.mfwm().embed(full.prompt_embedding.numpy()).shape == (16,)


def test_world_model_only_folder_and_resave_drops_stale_parts(tmp_path, full):
    folder = full.save_pretrained(tmp_path / "m")
    GenRLPretrained(full.world_model).save_pretrained(folder)
    assert not (folder / "connector.safetensors").exists() and not (folder / "behaviour.safetensors").exists()
    back = GenRLPretrained.from_pretrained(folder)
    assert back.connector is None and back.behaviour is None and back.prompt_embedding is None
    with pytest.raises(ValueError, match="no connector"):
        back.mfwm()
    with pytest.raises(ValueError, match="no behaviour"):
        back.policy()


def test_push_and_pull_through_the_hub_offline(tmp_path, monkeypatch, full):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    api = FakeHfApi(tmp_path / "remote")
    url = full.push_to_hub("me/genrl-walker", CARD, api=api, commit_message="walker")
    assert url.endswith("/commit/" + "1" * 40)
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[1][1]["commit_message"] == "walker" and api.calls[1][1]["repo_id"] == "me/genrl-walker"
    pushed = api.uploads["me/genrl-walker"]
    card = huggingface_hub.ModelCard.load(pushed / "README.md")
    assert card.data.library_name == "vpt-gym" and {"genrl", "world-model", "behaviour"} <= set(card.data.tags)
    assert "GenRLPretrained.from_pretrained('me/genrl-walker')" in card.text
    cache = offline_hub_cache(monkeypatch, tmp_path / "hub-cache")
    put_in_hub_cache(cache, "me/genrl-walker", pushed)
    back = GenRLPretrained.from_pretrained("me/genrl-walker")
    _equal(full.behaviour, back.behaviour)
    with pytest.raises(FileNotFoundError, match="hf download me/other config.json world_model.safetensors"):
        GenRLPretrained.from_pretrained("me/other")


def test_from_training_checkpoints_and_into_kl_ppo(tmp_path):
    from tests.agents.sb3.test_genrl_policy import walker_pixels

    wm_path, behaviour_path = save_tiny_genrl_agent(tmp_path, action_dim=6, seed=3)
    rng = torch.get_rng_state()
    pre = GenRLPretrained.from_checkpoint(wm_path, behaviour_path, prompt="stand")
    assert torch.equal(torch.get_rng_state(), rng)  # loading did not reset the caller's RNG
    assert torch.equal(pre.prompt_embedding, torch.ones(16)) and pre.connector is None
    folder = pre.save_pretrained(tmp_path / "folder")
    rng = torch.get_rng_state()
    back = GenRLPretrained.from_pretrained(folder)
    assert torch.equal(torch.get_rng_state(), rng)
    model = KLPPO.from_pretrained(back.world_model, walker_pixels(1), behaviour=back.behaviour, n_steps=32,
                                  batch_size=32)
    _equal(back.behaviour.actor, model.policy.actor)


def test_bad_folders_are_refused(tmp_path, full):
    folder = full.save_pretrained(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "format": "something.else"}))
    with pytest.raises(CheckpointError, match="not a 'vpt_gym.genrl.pretrained' v1 folder"):
        GenRLPretrained.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**config, "world_model": {"stoch": "many"}}))
    with pytest.raises(CheckpointError, match="bad configuration"):
        GenRLPretrained.from_pretrained(folder)
    other = {**config, "behaviour": {**config["behaviour"], "config": {**config["behaviour"]["config"],
                                                                        "actor_units": 8}}}
    (folder / "config.json").write_text(json.dumps(other))
    with pytest.raises(KeyMismatchError, match="behaviour.safetensors"):
        GenRLPretrained.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "connector.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="connector.safetensors is missing"):
        GenRLPretrained.from_pretrained(folder)
    with pytest.raises(ValueError, match="the behaviour takes features"):
        wm, _ = tiny_genrl_agent(action_dim=3)
        GenRLPretrained(wm, behaviour=full.behaviour)
    with pytest.raises(TypeError, match="world_model must be a WorldModel"):
        GenRLPretrained("not a model")  # type: ignore[arg-type]

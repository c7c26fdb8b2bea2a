"""VPT policies and IDMs on the Hugging Face Hub: save_pretrained writes safetensors + JSON + a model card,
push_to_hub makes exactly the expected upload calls (fake HfApi, no network), and from_pretrained("owner/name")
reads the pushed folder back from a local Hub cache with the client offline."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("huggingface_hub")

from agents.model_card import ModelCardInfo  # noqa: E402
from agents.sb3 import KLPPO  # noqa: E402
from agents.vpt import VPTAgent  # noqa: E402
from agents.vpt.config import IDM_PRESETS, POLICY_PRESETS  # noqa: E402
from agents.vpt.idm import IDMNetwork  # noqa: E402
from agents.vpt.policy import VPTPolicyNet  # noqa: E402
from tests.support.hub_cache import FakeHfApi, offline_hub_cache, put_in_hub_cache  # noqa: E402

CARD = ModelCardInfo(task="MineRL FindCave (vpt_gym/MineRLBasaltFindCave-v0)",
                     training={"method": "BC", "lr": 0.000181, "epochs": 2},
                     evaluation={"success rate": 0.25, "episodes": 20}, tags=("findcave",))


def _random(cls, config, seed):
    torch.manual_seed(seed)
    net = cls(config).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


def _equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("cls, config, kind_tag", [
    (VPTPolicyNet, POLICY_PRESETS["tiny"], "policy"),
    (IDMNetwork, IDM_PRESETS["tiny"], "inverse-dynamics-model"),
])
def test_push_then_from_pretrained_repo_id_round_trips(tmp_path, monkeypatch, cls, config, kind_tag):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    net = _random(cls, config, 1)
    api = FakeHfApi(tmp_path / "remote")
    url = net.push_to_hub("me/vpt-test", CARD, private=False, api=api)
    assert url == "https://huggingface.co/me/vpt-test/commit/" + "1" * 40
    (name, create), (_, upload) = api.calls
    assert name == "create_repo" and create == {"repo_id": "me/vpt-test", "private": False, "repo_type": "model",
                                                  "exist_ok": True}
    assert upload["repo_id"] == "me/vpt-test" and upload["repo_type"] == "model"
    pushed = api.uploads["me/vpt-test"]
    assert sorted(p.name for p in pushed.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = huggingface_hub.ModelCard.load(pushed / "README.md")
    assert card.data.library_name == "vpt-gym" and {"vpt", kind_tag, "findcave"} <= set(card.data.tags)
    assert f'{cls.__name__}.from_pretrained(\'me/vpt-test\')' in card.text
    assert "| lr | 0.000181 |" in card.text and "| success rate | 0.25 |" in card.text
    # pull it back through the Hub client, offline, from a local cache
    cache = offline_hub_cache(monkeypatch, tmp_path / "hub-cache")
    put_in_hub_cache(cache, "me/vpt-test", pushed)
    _equal(net, cls.from_pretrained("me/vpt-test"))
    other = VPTPolicyNet if cls is IDMNetwork else IDMNetwork
    with pytest.raises(ValueError, match=f"holds a {cls.__name__}, not a {other.__name__}"):
        other.from_pretrained("me/vpt-test")


def test_agent_and_kl_ppo_take_a_repo_id(tmp_path, monkeypatch):
    net = _random(VPTPolicyNet, POLICY_PRESETS["tiny"], 2)
    folder = net.save_pretrained(tmp_path / "folder", CARD)
    cache = offline_hub_cache(monkeypatch, tmp_path / "hub-cache")
    put_in_hub_cache(cache, "me/tiny", folder)
    _equal(net, VPTAgent.from_pretrained("me/tiny").policy)
    from stable_baselines3.common.env_util import make_vec_env

    from tests.agents.sb3.test_vpt_policy import minerl_env

    model = KLPPO.from_pretrained("me/tiny", make_vec_env(minerl_env, n_envs=1), n_steps=16, batch_size=8)
    ours = model.policy.vpt.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in net.state_dict().items() if not k.startswith("value_head.linear"))


def test_missing_repo_offline_names_the_files_and_hf_download(tmp_path, monkeypatch):
    cache = offline_hub_cache(monkeypatch, tmp_path / "hub-cache")
    with pytest.raises(FileNotFoundError) as err:
        VPTPolicyNet.from_pretrained("me/not-cached")
    msg = str(err.value)
    assert "hf download me/not-cached config.json model.safetensors" in msg and "HF_HUB_OFFLINE=1" in msg
    assert list(cache.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="neither a released VPT name"):
        VPTPolicyNet.from_pretrained(str(tmp_path / "a" / "b" / "c"))


def test_save_pretrained_without_card_says_so(tmp_path):
    folder = IDMNetwork(IDM_PRESETS["tiny"]).save_pretrained(tmp_path / "idm")
    text = (folder / "README.md").read_text()
    assert "Not stated (saved without a model card)." in text and "No evaluation results were given." in text
    assert "parameters" in text


def test_saving_and_local_loading_need_no_hub_client_and_pushing_names_the_extra(tmp_path, monkeypatch):
    import sys

    from vpt_gym.optional import MissingDependency

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if the hub extra were not installed
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    net = _random(VPTPolicyNet, POLICY_PRESETS["tiny"], 4)
    folder = net.save_pretrained(tmp_path / "local", CARD)
    _equal(net, VPTPolicyNet.from_pretrained(str(folder)))
    with pytest.raises(MissingDependency, match=r'huggingface_hub.*pip install -e "\.\[hub\]"'):
        net.push_to_hub("me/vpt-test", CARD)
    with pytest.raises(MissingDependency, match=r'pip install -e "\.\[hub\]"'):
        VPTPolicyNet.from_pretrained("me/not-local")

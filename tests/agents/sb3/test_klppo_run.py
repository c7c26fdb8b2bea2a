"""KLPPO run directories (save_pretrained / from_pretrained): pickle-free, exact, and an identical continuation."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

from agents.checkpoints import CheckpointError
from agents.sb3 import KLPPO, VPTActorCriticPolicy
from agents.sb3.zip_guard import UntrustedPickleError
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EPISODE = 64


class FixedStart(gym.Wrapper):
    """Pendulum that always starts hanging still: with episodes of ``n_steps`` steps, a run saved after a
    rollout restarts, on any fresh env, exactly where the uninterrupted run's next episode starts."""

    def reset(self, **kwargs):
        return self.env.reset(options={"x_init": 0.0, "y_init": 0.0})


def env():
    return FixedStart(gym.make("Pendulum-v1", max_episode_steps=EPISODE))


def model(**kwargs) -> KLPPO:
    defaults = dict(n_steps=EPISODE, batch_size=32, n_epochs=2, seed=0, device="cpu", learning_rate=3e-3,
                    policy_kwargs={"net_arch": [32, 32], "activation_fn": torch.nn.Tanh})
    defaults.update(kwargs)
    return KLPPO("MlpPolicy", env(), **defaults)


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def optimizer_equal(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    if sa["param_groups"] != sb["param_groups"] or sa["state"].keys() != sb["state"].keys():
        return False
    return all(state_equal(sa["state"][i], sb["state"][i]) for i in sa["state"])


def test_resumed_run_continues_bit_for_bit(tmp_path):
    uninterrupted = model()
    uninterrupted.learn(3 * EPISODE)

    first = model()
    first.learn(EPISODE)
    first.save_pretrained(tmp_path / "run")
    torch.manual_seed(123)
    np.random.seed(123)  # the caller's RNG is elsewhere: restore_rng=True brings back the run's
    resumed = KLPPO.from_pretrained(tmp_path / "run", env(), restore_rng=True, device="cpu")
    assert state_equal(resumed.policy.state_dict(), first.policy.state_dict())
    assert state_equal(resumed.ref_policy.state_dict(), first.ref_policy.state_dict())
    assert optimizer_equal(resumed.policy.optimizer, first.policy.optimizer)
    assert (resumed.kl_iteration, resumed.num_timesteps, resumed._n_updates) == (1, EPISODE, 2)
    assert resumed.current_kl_coef() == first.current_kl_coef()
    assert not any(p.requires_grad for p in resumed.ref_policy.parameters())

    resumed.learn(2 * EPISODE, reset_num_timesteps=False)
    assert resumed.kl_iteration == uninterrupted.kl_iteration == 3
    assert state_equal(resumed.policy.state_dict(), uninterrupted.policy.state_dict())
    assert optimizer_equal(resumed.policy.optimizer, uninterrupted.policy.optimizer)
    assert state_equal(resumed.ref_policy.state_dict(), uninterrupted.ref_policy.state_dict())


def test_rng_states_are_restored_only_on_request(tmp_path):
    from safetensors.torch import load_file

    m = model()
    m.learn(EPISODE)
    m.save_pretrained(tmp_path / "run")
    saved = load_file(str(tmp_path / "run" / "rng.safetensors"))
    torch.manual_seed(7)
    np.random.seed(7)
    KLPPO.from_pretrained(tmp_path / "run", env(), device="cpu")
    assert not torch.equal(torch.get_rng_state(), saved["torch"])
    assert not np.array_equal(np.random.get_state()[1], saved["numpy_keys"].numpy())
    KLPPO.from_pretrained(tmp_path / "run", env(), device="cpu", restore_rng=True)
    assert torch.equal(torch.get_rng_state(), saved["torch"])
    assert np.array_equal(np.random.get_state()[1], saved["numpy_keys"].numpy())


def test_run_directory_holds_no_pickle(tmp_path):
    run = Path(model().save_pretrained(tmp_path / "run"))
    names = sorted(p.name for p in run.iterdir())
    assert names == ["klppo.json", "optimizer.safetensors", "policy.safetensors", "ref_policy.safetensors",
                     "rng.safetensors"]
    manifest = json.loads((run / "klppo.json").read_text())
    assert manifest["policy"] == "MlpPolicy"
    assert manifest["policy_kwargs"]["activation_fn"] == {"__class__": "torch.nn.Tanh"}
    assert manifest["settings"]["kl_coef"] == 0.2 and manifest["settings"]["clip_range"] == 0.2
    for name in names[1:]:
        assert not zipfile.is_zipfile(run / name) and b"\x80" not in (run / name).read_bytes()[:1]


def test_callable_settings_must_be_passed_again(tmp_path):
    schedule = lambda i: 0.1 / (1 + i)  # noqa: E731
    model(kl_coef=schedule).save_pretrained(tmp_path / "run")
    with pytest.raises(CheckpointError, match="callable kl_coef.*pass kl_coef="):
        KLPPO.from_pretrained(tmp_path / "run", env(), device="cpu")
    again = KLPPO.from_pretrained(tmp_path / "run", env(), device="cpu", kl_coef=schedule)
    assert again.current_kl_coef() == pytest.approx(0.1)


def test_tampered_or_mismatching_directories_are_refused(tmp_path):
    run = Path(model().save_pretrained(tmp_path / "run"))
    with pytest.raises(CheckpointError, match="spaces"):
        KLPPO.from_pretrained(run, gym.make("MountainCarContinuous-v0"), device="cpu")
    manifest = json.loads((run / "klppo.json").read_text())
    bad = dict(manifest, policy="builtins.eval")
    (run / "klppo.json").write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="not one of"):
        KLPPO.from_pretrained(run, env(), device="cpu")
    bad = dict(manifest, policy_kwargs={"activation_fn": {"__class__": "os.system"}})
    (run / "klppo.json").write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="names class 'os.system'"):
        KLPPO.from_pretrained(run, env(), device="cpu")
    (run / "klppo.json").write_text(json.dumps(manifest))
    data = bytearray((run / "policy.safetensors").read_bytes())
    data[-1] ^= 1
    (run / "policy.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="policy.safetensors does not match the manifest"):
        KLPPO.from_pretrained(run, env(), device="cpu")
    with pytest.raises(ValueError, match="policy_kwargs"):
        KLPPO.from_pretrained(run, env(), policy_kwargs={"net_arch": [8]})


def test_unstorable_policy_kwargs_are_refused_at_save(tmp_path):
    m = model(policy_kwargs={"activation_fn": torch.nn.Hardtanh})
    with pytest.raises(ValueError, match="cannot be stored without pickle"):
        m.save_pretrained(tmp_path / "run")


def test_vpt_run_round_trip_is_exact(tmp_path):
    from tests.agents.sb3.test_vpt_policy import minerl_env, vpt_model

    m = vpt_model(n_steps=16, batch_size=16, n_epochs=1, learning_rate=1e-3)
    m.learn(32)
    m.save_pretrained(tmp_path / "vpt")
    loaded = KLPPO.from_pretrained(tmp_path / "vpt", make_vec_env(minerl_env, n_envs=2), device="cpu")
    assert isinstance(loaded.policy, VPTActorCriticPolicy)
    assert state_equal(loaded.policy.state_dict(), m.policy.state_dict())
    assert state_equal(loaded.ref_policy.state_dict(), m.ref_policy.state_dict())
    assert optimizer_equal(loaded.policy.optimizer, m.policy.optimizer)
    assert loaded.kl_iteration == m.kl_iteration == 1  # 16 steps x 2 envs per iteration
    loaded.learn(32, reset_num_timesteps=False)
    assert loaded.kl_iteration == 2


def test_sb3_zip_needs_trust_or_custom_objects(tmp_path):
    m = model()
    m.save(tmp_path / "m.zip")
    with pytest.raises(UntrustedPickleError, match="trust_remote_code=True") as info:
        KLPPO.load(tmp_path / "m.zip", env=env(), device="cpu")
    assert "policy_class" in info.value.entries and "save_pretrained" in str(info.value)
    # replacing every pickled entry by the caller's own values loads the zip without unpickling anything
    from stable_baselines3.common.buffers import RolloutBuffer
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule

    e = env()
    custom = {"policy_class": ActorCriticPolicy, "observation_space": e.observation_space,
              "action_space": e.action_space, "rollout_buffer_class": RolloutBuffer,
              "clip_range": FloatSchedule(ConstantSchedule(0.2)), "lr_schedule": FloatSchedule(ConstantSchedule(3e-3)),
              "_last_obs": None, "_last_episode_starts": None, "ep_info_buffer": None, "ep_success_buffer": None,
              "_last_original_obs": None, "policy_kwargs": {"net_arch": [32, 32], "activation_fn": torch.nn.Tanh}}
    loaded = KLPPO.load(tmp_path / "m.zip", env=e, device="cpu", custom_objects=custom)
    assert state_equal(loaded.policy.state_dict(), m.policy.state_dict())
    trusted = KLPPO.load(tmp_path / "m.zip", env=env(), device="cpu", trust_remote_code=True)
    assert state_equal(trusted.ref_policy.state_dict(), m.ref_policy.state_dict())


def test_genrl_run_round_trip_is_exact(tmp_path):
    from tests.agents.sb3.test_genrl_policy import _OPEN_ENVS, walker_pixels
    from tests.support.genrl_agent import save_tiny_genrl_agent

    request_close = _OPEN_ENVS  # MuJoCo renderers are closed below (EGL contexts freed at exit print errors)
    wm_path, behaviour_path = save_tiny_genrl_agent(tmp_path)
    try:
        _genrl_round_trip(tmp_path, wm_path, behaviour_path, walker_pixels)
    finally:
        while request_close:
            request_close.pop().close()


def _genrl_round_trip(tmp_path, wm_path, behaviour_path, walker_pixels):
    m = KLPPO.from_pretrained(wm_path, walker_pixels(1), behaviour=behaviour_path, n_steps=32, batch_size=32,
                              n_epochs=1, learning_rate=1e-3, seed=0, device="cpu", policy_kwargs={"chunk_len": 16})
    m.learn(32)
    m.save_pretrained(tmp_path / "genrl")
    loaded = KLPPO.from_pretrained(tmp_path / "genrl", walker_pixels(1), device="cpu")
    assert state_equal(loaded.policy.state_dict(), m.policy.state_dict())
    assert state_equal(loaded.ref_policy.state_dict(), m.ref_policy.state_dict())
    assert optimizer_equal(loaded.policy.optimizer, m.policy.optimizer)
    assert loaded.policy.chunk_len == 16 and loaded.kl_iteration == 1


def test_a_run_pushed_to_the_hub_resumes_from_its_repo_id(tmp_path, monkeypatch):
    """push_to_hub uploads the run directory with a model card (fake HfApi, no network); from_pretrained of
    the repo id, read offline from a local Hub cache, resumes the same run (issue #21, part 4)."""
    import huggingface_hub

    from agents.model_card import ModelCardInfo
    from tests.support.hub_cache import FakeHfApi, offline_hub_cache, put_in_hub_cache

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    run = model()
    run.learn(EPISODE)
    card = ModelCardInfo(task="Pendulum swing-up", training={"kl_coef": 0.2}, evaluation={"return": -1200.0})
    api = FakeHfApi(tmp_path / "remote")
    url = run.push_to_hub("me/klppo-pendulum", card, api=api)
    assert url.startswith("https://huggingface.co/me/klppo-pendulum/commit/")
    assert [name for name, _ in api.calls] == ["create_repo", "upload_folder"]
    pushed = api.uploads["me/klppo-pendulum"]
    assert {"klppo.json", "README.md", "policy.safetensors"} <= {p.name for p in pushed.iterdir()}
    text = huggingface_hub.ModelCard.load(pushed / "README.md")
    assert text.data.library_name == "vpt-gym" and "klppo" in text.data.tags
    assert "KLPPO.from_pretrained('me/klppo-pendulum', env)" in text.text

    cache = offline_hub_cache(monkeypatch, tmp_path / "hub-cache")
    put_in_hub_cache(cache, "me/klppo-pendulum", pushed)
    resumed = KLPPO.from_pretrained("me/klppo-pendulum", env(), device="cpu")
    assert state_equal(resumed.policy.state_dict(), run.policy.state_dict())
    assert optimizer_equal(resumed.policy.optimizer, run.policy.optimizer)
    assert resumed.kl_iteration == run.kl_iteration == 1
    with pytest.raises(FileNotFoundError, match="me/absent"):
        KLPPO.from_pretrained("me/absent", env(), device="cpu")


@pytest.mark.parametrize("data, message", [
    ({"n_steps": 10**9, "n_envs": 1}, r"n_steps \* n_envs = 1000000000 \* 1 transitions"),
    ({"n_steps": 2048, "n_envs": 4096}, r"2048 \* 4096 transitions"),
    ({"n_steps": -1}, "n_steps must be a positive integer, got -1"),
    ({"n_steps": 64, "n_envs": "8"}, "n_envs must be a positive integer, got '8'"),
])
def test_a_zip_asking_for_a_huge_rollout_buffer_is_refused_even_when_trusted(tmp_path, data, message):
    """SB3 allocates the rollout buffer from the zip's n_steps * n_envs before reading any weight: bounded."""
    from agents.sb3.zip_guard import check_sb3_zip

    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps({"gamma": 0.99, **data}))
    with pytest.raises(CheckpointError, match=message):
        check_sb3_zip(path, trust_remote_code=True)
    with pytest.raises(CheckpointError, match=message):
        KLPPO.load(path, trust_remote_code=True)

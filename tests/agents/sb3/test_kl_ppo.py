"""KLPPO with SB3's own policies: the KL term, its schedule and logging, PPO parity, save/load, SB3 plumbing."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

import vpt_gym  # noqa: F401  (registers the envs)
from agents.sb3 import KLPPO, distribution_kl
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pendulum(**kwargs) -> KLPPO:
    defaults = dict(n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu")
    defaults.update(kwargs)
    return KLPPO("MlpPolicy", gym.make("Pendulum-v1"), **defaults)


def gaussian_kl(m0, s0, m1, s1) -> torch.Tensor:
    """KL(N(m0, s0) || N(m1, s1)) summed over the last axis, written out."""
    return (torch.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5).sum(-1)


def params(policy) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in policy.state_dict().items()}


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def perturb(policy, scale: float = 0.3, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.action_net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
        policy.log_std.add_(0.2)


def buffer_obs(model: KLPPO) -> torch.Tensor:
    obs = model.rollout_buffer.observations
    return torch.as_tensor(obs.reshape(-1, *model.observation_space.shape), dtype=torch.float32)


def test_defaults_are_vpts():
    model = pendulum()
    assert (model.kl_coef, model.kl_decay, model.ent_coef, model.kl_direction) == (0.2, 0.9995, 0.0, "ref||policy")
    assert model.current_kl_coef() == 0.2
    model.kl_iteration = 1000
    assert model.current_kl_coef() == pytest.approx(0.2 * 0.9995**1000, rel=1e-12)


def test_schedule_decays_per_iteration_and_is_logged():
    model = pendulum(n_epochs=1)
    model.learn(3 * 64)
    assert model.kl_iteration == 3
    # the last train() (iteration index 2) used 0.2 * 0.9995 ** 2
    assert model.logger.name_to_value["train/kl_coef"] == pytest.approx(0.2 * 0.9995**2, rel=1e-12)
    assert model.current_kl_coef() == pytest.approx(0.2 * 0.9995**3, rel=1e-12)


def test_callable_schedule():
    seen = []
    model = pendulum(n_epochs=1, kl_coef=lambda i: seen.append(i) or 1.0 / (i + 1))
    model.learn(2 * 64)
    assert seen == [0, 1]
    assert model.logger.name_to_value["train/kl_coef"] == 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kl_coef=-1.0), "kl_coef"),
        (dict(kl_coef=float("nan")), "kl_coef"),
        (dict(kl_decay=0.0), "kl_decay"),
        (dict(kl_decay=1.5), "kl_decay"),
        (dict(kl_direction="forward"), "kl_direction"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pendulum(**kwargs)


def test_callable_schedule_returning_nan_raises():
    model = pendulum(kl_coef=lambda i: float("nan"))
    with pytest.raises(ValueError, match="iteration 0"):
        model.learn(64)


def test_zero_coefficient_matches_plain_ppo_exactly():
    kwargs = dict(n_steps=64, batch_size=32, n_epochs=3, seed=3, device="cpu", learning_rate=1e-3)
    # one after the other: seeding sets the global RNGs, which learn() then consumes
    ppo = PPO("MlpPolicy", gym.make("Pendulum-v1"), **kwargs)
    before = params(ppo.policy)
    ppo.learn(128)
    klppo = KLPPO("MlpPolicy", gym.make("Pendulum-v1"), kl_coef=0.0, **kwargs)
    assert all(torch.equal(before[k], v) for k, v in params(klppo.policy).items())
    klppo.learn(128)
    after_ppo, after_kl = params(ppo.policy), params(klppo.policy)
    assert any(not torch.equal(before[k], after_ppo[k]) for k in before)  # the update did something
    for k in after_ppo:
        assert torch.equal(after_ppo[k], after_kl[k]), k
    assert klppo.logger.name_to_value["train/kl_ref"] > 0  # the KL is still measured


@pytest.mark.parametrize("direction", ["ref||policy", "policy||ref"])
def test_logged_kl_equals_an_independent_computation(direction):
    # lr 0: the policy does not move during train(), so the logged mean KL is the KL on the rollout
    model = pendulum(batch_size=64, n_epochs=1, learning_rate=0.0, kl_direction=direction)
    perturb(model.policy)
    model.learn(64)
    obs = buffer_obs(model)
    with torch.no_grad():
        pi = model.policy.get_distribution(obs).distribution
        ref = model.ref_policy.get_distribution(obs).distribution
        if direction == "ref||policy":
            expected = gaussian_kl(ref.loc, ref.scale, pi.loc, pi.scale).mean().item()
        else:
            expected = gaussian_kl(pi.loc, pi.scale, ref.loc, ref.scale).mean().item()
    assert expected > 0.01
    assert model.logger.name_to_value["train/kl_ref"] == pytest.approx(expected, rel=1e-5)


def test_distribution_kl_multidiscrete_and_discrete():
    from stable_baselines3.common.distributions import CategoricalDistribution, MultiCategoricalDistribution

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    p = MultiCategoricalDistribution([3, 4]).proba_distribution(a)
    q = MultiCategoricalDistribution([3, 4]).proba_distribution(b)

    def cat_kl(x, y):
        lx, ly = x.log_softmax(-1), y.log_softmax(-1)
        return (lx.exp() * (lx - ly)).sum(-1)

    expected = cat_kl(a[:, :3], b[:, :3]) + cat_kl(a[:, 3:], b[:, 3:])
    torch.testing.assert_close(distribution_kl(p, q), expected)
    c = CategoricalDistribution(7).proba_distribution(a)
    d = CategoricalDistribution(7).proba_distribution(b)
    torch.testing.assert_close(distribution_kl(c, d), cat_kl(a, b))
    with pytest.raises(TypeError, match="different distribution types"):
        distribution_kl(p, c)


def kl_to_ref(model: KLPPO, obs: torch.Tensor) -> float:
    with torch.no_grad():
        return distribution_kl(model.ref_policy.get_distribution(obs), model.policy.get_distribution(obs)).mean().item()


def test_huge_coefficient_keeps_the_policy_close_to_the_reference():
    # same seed -> the same rollout (a fixed batch); many aggressive epochs on it, clipping off
    common = dict(n_steps=128, batch_size=64, n_epochs=30, learning_rate=3e-3, seed=7, kl_decay=1.0, clip_range=10.0)
    free = pendulum(kl_coef=0.0, **common)
    free.learn(128)
    tied = pendulum(kl_coef=1e4, **common)
    tied.learn(128)
    np.testing.assert_array_equal(free.rollout_buffer.observations, tied.rollout_buffer.observations)
    obs = buffer_obs(tied)
    kl_free, kl_tied = kl_to_ref(free, obs), kl_to_ref(tied, obs)
    assert kl_free > 0.2, kl_free
    assert kl_tied < 1e-4, kl_tied


class CountSteps(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.rollout_ends = 0

    def _on_step(self) -> bool:
        self.calls += 1
        return True

    def _on_rollout_end(self) -> None:
        self.rollout_ends += 1


def test_vector_env_callback_progress_bar_and_csv_logger(tmp_path):
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = KLPPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    callback = CountSteps()
    model.learn(128, callback=callback, progress_bar=True)
    assert callback.calls == 64 and callback.rollout_ends == 2
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert "train/kl_ref" in rows[-1] and "train/kl_coef" in rows[-1]
    logged = [float(r["train/kl_coef"]) for r in rows if r["train/kl_coef"]]
    assert logged == pytest.approx([0.2 * 0.9995**i for i in range(len(logged))])


def test_tensorboard_logging(tmp_path):
    pytest.importorskip("tensorboard")
    model = pendulum(n_epochs=1, tensorboard_log=str(tmp_path))
    model.learn(128)
    assert list(Path(tmp_path).rglob("events.out.tfevents*"))


def test_save_load_restores_policy_reference_and_schedule(tmp_path):
    model = pendulum(learning_rate=3e-3)
    model.learn(128)
    assert not same_weights(model.policy, model.ref_policy)
    path = tmp_path / "model.zip"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        data = z.read("data").decode()
    assert {"policy.pth", "ref_policy.pth", "policy.optimizer.pth"} <= names
    assert '"ref_policy"' not in data and "_last_memory" not in data  # weights go through state dicts only
    loaded = KLPPO.load(path, env=gym.make("Pendulum-v1"), device="cpu", trust_remote_code=True)  # our own file
    for name in ("policy", "ref_policy"):
        a, b = getattr(model, name).state_dict(), getattr(loaded, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert loaded.kl_iteration == model.kl_iteration == 2
    assert loaded.current_kl_coef() == model.current_kl_coef()
    assert not any(p.requires_grad for p in loaded.ref_policy.parameters())
    loaded.learn(64, reset_num_timesteps=False)  # and it keeps training
    assert loaded.kl_iteration == 3


def test_reset_reference_after_loading_pretrained_weights():
    pretrained = pendulum(seed=5).policy
    model = pendulum(seed=6)
    model.policy.load_state_dict(pretrained.state_dict())
    assert not same_weights(model.policy, model.ref_policy)
    model.reset_reference()
    for k, v in pretrained.state_dict().items():
        assert torch.equal(model.ref_policy.state_dict()[k], v)
    assert model.ref_policy.optimizer is None and model.policy.optimizer is not None


def test_learns_on_dm_control_state_task():
    env = make_vec_env(lambda: gym.make("vpt_gym/walker-walk-v0", obs_type="state"), n_envs=2, seed=0)
    model = KLPPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=2, seed=0)
    model.learn(512)
    assert model.num_timesteps == 512 and model.kl_iteration == 2
    assert np.isfinite(model.logger.name_to_value["train/kl_ref"])
    assert model.logger.name_to_value["train/kl_ref"] > 0


def test_learns_on_dm_control_pixel_task():
    env = make_vec_env(lambda: gym.make("vpt_gym/walker-walk-v0", render_quality="fast"), n_envs=1, seed=0)
    model = KLPPO("CnnPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0)
    model.learn(256)
    assert model.num_timesteps == 256
    assert model.logger.name_to_value["train/kl_ref"] > 0

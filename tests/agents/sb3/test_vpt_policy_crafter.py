"""VPTActorCriticPolicy over Crafter's Discrete(17): spaces, distribution = the Crafter head, save/load."""
from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.distributions import CategoricalDistribution

from agents.sb3.vpt_policy import VPTActorCriticPolicy, action_space_of
from agents.vpt.config import CRAFTER_POLICY, POLICY_PRESETS
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = dataclasses.replace(POLICY_PRESETS["tiny"], action_space="crafter", temperature=2.0)
OBS = gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)


def _policy() -> VPTActorCriticPolicy:
    torch.manual_seed(0)
    return VPTActorCriticPolicy(OBS, gym.spaces.Discrete(17), lambda _: 1e-4, vpt_config=CONFIG.to_dict())


def test_action_space_follows_the_config():
    assert action_space_of(CRAFTER_POLICY) == gym.spaces.Discrete(17)
    assert action_space_of(POLICY_PRESETS["tiny"]) == gym.spaces.MultiDiscrete([8641, 121])
    with pytest.raises(ValueError, match=r"action_space='crafter' needs Discrete\(17\) actions, got Discrete\(5\)"):
        VPTActorCriticPolicy(OBS, gym.spaces.Discrete(5), lambda _: 1e-4, vpt_config=CONFIG.to_dict())
    with pytest.raises(ValueError, match=r"needs Discrete\(17\) actions, got MultiDiscrete"):
        VPTActorCriticPolicy(OBS, gym.spaces.MultiDiscrete([8641, 121]), lambda _: 1e-4, vpt_config=CONFIG.to_dict())
    with pytest.raises(ValueError, match=r"needs MultiDiscrete\(\[8641, 121\]\) actions, got Discrete\(17\)"):
        VPTActorCriticPolicy(OBS, gym.spaces.Discrete(17), lambda _: 1e-4, vpt_config="tiny")


def test_distribution_is_the_crafter_head_and_predict_carries_memory():
    policy = _policy()
    obs = torch.randint(0, 256, (6, 32, 32, 3), dtype=torch.uint8)
    starts = torch.tensor([True, False, False, True, False, False])
    memory = policy.initial_memory(2)
    dist, values, _ = policy.sequence_distribution(obs, starts, memory, 2)
    assert isinstance(dist, CategoricalDistribution) and values.shape == (6, 1)
    out, _ = policy.vpt(obs.reshape(2, 3, 32, 32, 3), starts.reshape(2, 3), memory)
    torch.testing.assert_close(dist.distribution.logits, out.logp["action"].reshape(6, 17))
    actions = torch.arange(6)
    _, log_prob, entropy, _ = policy.evaluate_actions_sequence(obs, actions, starts, memory, 2)
    torch.testing.assert_close(log_prob, out.logp["action"].reshape(6, 17)[torch.arange(6), actions])
    assert entropy.shape == (6,) and bool((entropy > 0).all())
    a, state = policy.predict(obs[:2].numpy(), episode_start=[True, True])
    assert a.shape == (2,) and a.dtype.kind == "i" and ((0 <= a) & (a < 17)).all()
    a2, _ = policy.predict(obs[:2].numpy(), state, episode_start=[False, False])
    assert a2.shape == (2,)


def test_save_and_load_round_trip(tmp_path):
    policy = _policy()
    with torch.no_grad():
        policy.vpt.value_head.linear.bias.fill_(0.5)
    policy.save(str(tmp_path / "p"))
    back = VPTActorCriticPolicy.load(str(tmp_path / "p"))
    assert back.action_space == gym.spaces.Discrete(17) and back.vpt_config == CONFIG
    for (k, v), (k2, v2) in zip(policy.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)

"""vpt-gym: VPT and GenRL through gymnasium and stable-baselines3.

``import vpt_gym`` registers every environment id under the ``vpt_gym/`` namespace and stays light:
torch, MineRL and dm_control are imported only when something that needs them is used. The public
API is re-exported here, lazily.

Example::

    >>> import gymnasium as gym
    >>> import vpt_gym
    >>> len(vpt_gym.env_ids("minerl"))
    6
"""
from __future__ import annotations

import importlib
from typing import Any

from vpt_gym.registration import ENV_TABLE, env_ids, make, register_all

__version__ = "0.1.0"

register_all()

# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    # VPT action space
    "CameraQuantizer": "vpt_gym.actions",
    "CameraHierarchicalMapping": "vpt_gym.actions",
    "ActionMapping": "vpt_gym.actions",
    "env_to_agent": "vpt_gym.actions",
    "agent_to_env": "vpt_gym.actions",
    "is_null_env_action": "vpt_gym.actions",
    "minerl_action_space": "vpt_gym.actions",
    "agent_action_space": "vpt_gym.actions",
    # GenRL task table
    "TASKS": "vpt_gym.tasks",
    "normalized_score": "vpt_gym.tasks",
    "prompt_for": "vpt_gym.tasks",
    # Crafter
    "CrafterEnv": "vpt_gym.envs.crafter",
    "crafter_score": "vpt_gym.crafter_score",
    # wrappers
    "VPTActionWrapper": "wrappers.vpt_action",
    "VPTObservationWrapper": "wrappers.vpt_observation",
    "MineRLRestart": "wrappers.restart",
    "GenRLReward": "wrappers.genrl_reward",
    "GenRLRewardVector": "wrappers.genrl_reward",
    "VLMReward": "wrappers.vlm_reward",
    # agents (import torch on first use)
    "VPTAgent": "agents.vpt.agent",
    "VPTPolicyNet": "agents.vpt.policy",
    "IDMNetwork": "agents.vpt.idm",
    "train_idm": "agents.vpt.idm_training",
    "IDMLabeller": "agents.vpt.idm_training",
    "train_bc": "agents.vpt.bc",
    "WorldModel": "agents.genrl.world_model",
    "WorldModelConfig": "agents.genrl.world_model",
    "EpisodeStore": "agents.genrl.episodes",
    "Connector": "agents.genrl.connector",
    "ConnectorConfig": "agents.genrl.connector",
    "load_vlm": "agents.genrl.vlm",
    "MFWM": "agents.genrl.reward",
    "learn_behaviour": "agents.genrl.behaviour",
    "evaluate_behaviour": "agents.genrl.behaviour",
    "load_official_genrl": "agents.genrl.official",
    "KLPPO": "agents.sb3.kl_ppo",
    "VPTActorCriticPolicy": "agents.sb3.vpt_policy",
    # env adapters
    "MineRLCompat": "vpt_gym.envs.minerl",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vpt_gym' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["ENV_TABLE", "env_ids", "make", "register_all", "__version__", *_LAZY]

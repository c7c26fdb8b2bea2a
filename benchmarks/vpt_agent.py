"""The ``vpt`` benchmark agent: a VPT policy (``agents.vpt.agent.VPTAgent``) acting in VPT-wrapped MineRL envs.

The network is ``VPTPolicyNet.from_pretrained(--vpt-model)``: a released name (default
``foundation-model-1x``, downloaded once into the cache) or a checkpoint path. When it cannot be loaded (offline
and not cached, a wrong path), :func:`check` raises :class:`~benchmarks.agents.AgentUnavailable` carrying
``from_pretrained``'s message (which files to download and where to put them), so the cells are skipped.

The agent samples actions (VPT's evaluation samples too) and masks each sub-env's memory when its episode
starts (``first``), batching all sub-envs in one forward pass per step.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks.agents import AgentContext, AgentUnavailable


def load_network(context: AgentContext) -> Any:
    """The VPT policy network named by ``--vpt-model`` (loaded once per run)."""
    name = context.options.vpt_model

    def load() -> Any:
        from agents.vpt.policy import VPTPolicyNet

        try:
            return VPTPolicyNet.from_pretrained(name)
        except (FileNotFoundError, ValueError) as err:
            raise AgentUnavailable(f"vpt: cannot load VPT model {name!r} (--vpt-model): {err}") from err

    return context.options.cached(f"vpt:{name}", load)


def check(context: AgentContext) -> None:
    load_network(context)


class VPTBenchAgent:
    """Batched VPT acting: ``[button_class, camera_class]`` per sub-env, memory reset where an episode starts.

    :param agent: a :class:`~agents.vpt.agent.VPTAgent`. :param num_envs: sub-envs. :param label: report label.
    """

    def __init__(self, agent: Any, num_envs: int, label: str) -> None:
        self.agent, self.label = agent, label
        self._first = np.ones(num_envs, dtype=bool)

    def act(self, obs: Any) -> np.ndarray:
        action, _ = self.agent.act(np.asarray(obs), first=self._first)
        self._first = np.zeros_like(self._first)
        return action

    def observe(self, obs: Any, actions: np.ndarray, done: np.ndarray) -> None:
        self._first = np.asarray(done, dtype=bool).copy()


def build(envs: gym.vector.VectorEnv, seed: int, context: AgentContext) -> VPTBenchAgent:
    from agents.vpt.agent import VPTAgent

    net = load_network(context)
    size = net.config.img_size
    obs_shape = tuple(envs.single_observation_space.shape or ())
    if obs_shape != (size, size, 3):
        raise ValueError(f"vpt: the model {context.options.vpt_model!r} reads ({size}, {size}, 3) frames but "
                         f"{context.env_id} observes {obs_shape}; set the env's size={size}")
    agent = VPTAgent(net, seed=seed, dtype=context.settings.get("dtype", "float32"))
    return VPTBenchAgent(agent, envs.num_envs, f"vpt ({context.options.vpt_model})")

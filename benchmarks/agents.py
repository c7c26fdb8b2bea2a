"""Evaluation agents of the benchmark runner: batched ``act(obs) -> actions`` over a vector env.

An agent factory takes the vector env and a seed and returns an object with ``act(obs)``.
``AGENTS`` maps the names used in suites to factories; trained agents (GenRL behaviours, VPT BC
policies) are added here as they land.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

import gymnasium as gym
import numpy as np


class EvalAgent(Protocol):
    label: str

    def act(self, obs: Any) -> np.ndarray: ...


class RandomAgent:
    """Uniformly random actions from the single-env action space, one per sub-env (seeded)."""

    label = "random"

    def __init__(self, envs: gym.vector.VectorEnv, seed: int) -> None:
        self.space = envs.action_space
        self.space.seed(seed)

    def act(self, obs: Any) -> np.ndarray:
        return self.space.sample()


AGENTS: dict[str, Callable[[gym.vector.VectorEnv, int], EvalAgent]] = {
    "random": RandomAgent,
}


def make_agent(name: str, envs: gym.vector.VectorEnv, seed: int) -> EvalAgent:
    if name not in AGENTS:
        raise KeyError(f"Unknown benchmark agent {name!r}; valid agents: {', '.join(AGENTS)}")
    return AGENTS[name](envs, seed)

"""A one-dimensional pixel env for prompt-reward tests: a bright bar fills the left fraction x of a 64x64 frame.

x starts uniform in [0.2, 0.8]; each step adds 0.1 * action[0] and clips to [0, 1] (action[1:] is ignored).
Reward = x. Large, smooth pixel changes make it learnable by a small world model in a few hundred steps;
a prompt showing a full bar asks for "push right and stay there".
"""
from __future__ import annotations

from typing import Any, Optional

import gymnasium as gym
import numpy as np


def slider_frame(x: float) -> np.ndarray:
    """The 64x64x3 uint8 frame of state ``x`` in [0, 1]."""
    frame = np.full((64, 64, 3), 30, np.uint8)
    frame[:, : int(round(64 * float(x)))] = (240, 200, 80)
    return frame


class SliderEnv(gym.Env):
    """:param episode_steps: steps before truncation. :param action_dim: size of the Box action."""

    metadata = {"render_modes": []}

    def __init__(self, episode_steps: int = 24, action_dim: int = 2) -> None:
        self.episode_steps = episode_steps
        self.observation_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        self.x, self._t = 0.5, 0

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None):
        super().reset(seed=seed)
        self.x, self._t = float(self.np_random.uniform(0.2, 0.8)), 0
        return slider_frame(self.x), {}

    def step(self, action: np.ndarray):
        self.x = float(np.clip(self.x + 0.1 * float(np.asarray(action)[0]), 0.0, 1.0))
        self._t += 1
        return slider_frame(self.x), self.x, False, self._t >= self.episode_steps, {}

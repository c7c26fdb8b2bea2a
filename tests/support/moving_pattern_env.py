"""A tiny pixel env for GenRL data/world-model tests: a bright square moving on a dark 64x64 frame.

It follows the dm_control pixel convention of vpt-gym (64x64x3 uint8 HWC observations, Box actions in
[-1, 1]) without needing MuJoCo. The square moves one pixel-step per env step; the action nudges it
vertically, so frames depend on actions. Reward = the first action component.
"""
from __future__ import annotations

from typing import Any, Optional

import gymnasium as gym
import numpy as np


def moving_square_frame(x: int, y: int, size: int = 12) -> np.ndarray:
    """A 64x64x3 uint8 frame with a square whose top-left corner is at (x, y) (wrapping around)."""
    frame = np.full((64, 64, 3), 20, np.uint8)
    rows = (np.arange(size) + y) % 64
    cols = (np.arange(size) + x) % 64
    frame[np.ix_(rows, cols)] = (230, 180, 60)
    return frame


class MovingSquareEnv(gym.Env):
    """Square moving right by 4 px per step; action[0] moves it up/down by up to 4 px.

    :param episode_steps: steps before truncation.
    :param action_dim: size of the Box action.
    """

    metadata = {"render_modes": []}

    def __init__(self, episode_steps: int = 20, action_dim: int = 2) -> None:
        self.episode_steps = episode_steps
        self.observation_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        self._x = self._y = self._t = 0

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None):
        super().reset(seed=seed)
        self._x, self._y = (int(v) for v in self.np_random.integers(0, 64, 2))
        self._t = 0
        return moving_square_frame(self._x, self._y), {}

    def step(self, action: np.ndarray):
        action = np.asarray(action, np.float32)
        self._x = (self._x + 4) % 64
        self._y = (self._y + int(round(4 * float(action[0])))) % 64
        self._t += 1
        truncated = self._t >= self.episode_steps
        return moving_square_frame(self._x, self._y), float(action[0]), False, truncated, {}

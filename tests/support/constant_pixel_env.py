"""A tiny pixel env with a known ground-truth reward (1.0 every step) and a fixed episode length, so that
tests can check exact GT returns of training episodes (``ConstantRewardPixelEnv``).

The frame is a gradient shifted by the step count and by the first action component (what the agent does is
visible), 32x32 RGB uint8; actions are ``Box(-1, 1, (2,))``.
"""
from __future__ import annotations

from typing import Any, Optional

import gymnasium as gym
import numpy as np

ENV_ID = "tests/ConstantRewardPixel-v0"


class ConstantRewardPixelEnv(gym.Env):
    """:param size: frame side. :param length: steps per episode (truncated after ``length`` steps)."""

    metadata = {"render_modes": []}

    def __init__(self, size: int = 32, length: int = 5) -> None:
        self.size, self.length = size, length
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._t, self._shift = 0, 0

    def _frame(self) -> np.ndarray:
        x = (np.arange(self.size)[None, :] * 8 + 16 * self._t + self._shift) % 256
        y = (np.arange(self.size)[:, None] * 4) % 256
        return np.stack([x + 0 * y, y + 0 * x, (x + y) % 256], axis=-1).astype(np.uint8)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._t, self._shift = 0, int(self.np_random.integers(0, 256))
        return self._frame(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._t += 1
        self._shift = (self._shift + int(32 * float(np.asarray(action).reshape(-1)[0]))) % 256
        return self._frame(), 1.0, False, self._t >= self.length, {}


def register() -> str:
    """Register :data:`ENV_ID` (idempotent) and return it."""
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=ConstantRewardPixelEnv)
    return ENV_ID

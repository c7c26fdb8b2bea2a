"""A minimal gymnasium env with MineRL 1.0's spaces, for testing the VPT wrappers on their own.

Only the spaces are MineRL's (spec vpt.md 1.1): the action space is the 24-key ``Dict`` of 23
``Discrete(2)`` keys and ``camera = Box(-180, 180, (2,), float32)``, written out here independently of
``vpt_gym.actions``; the observation is ``{"pov": (360, 640, 3) uint8}``. The full MineRL 1.0 API double
(old gym API, crashes, BASALT rules) is ``vpt_gym/envs/minerl_double.py``.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

MINERL_BINARY_KEYS = (
    "ESC", "attack", "back", "drop", "forward",
    "hotbar.1", "hotbar.2", "hotbar.3", "hotbar.4", "hotbar.5", "hotbar.6", "hotbar.7", "hotbar.8",
    "hotbar.9", "inventory", "jump", "left", "pickItem", "right", "sneak", "sprint", "swapHands", "use",
)  # fmt: skip
POV_SHAPE = (360, 640, 3)


def minerl_action_space() -> spaces.Dict:
    """MineRL 1.0's action space, written out from the spec."""
    entries: dict[str, Any] = {key: spaces.Discrete(2) for key in MINERL_BINARY_KEYS}
    entries["camera"] = spaces.Box(low=-180.0, high=180.0, shape=(2,), dtype=np.float32)
    return spaces.Dict(entries)


class MineRLSpacesEnv(gym.Env):
    """Random ``pov`` frames, reward 0, never ends; records every action it receives in ``actions``.

    :param pov_shape: shape of the ``pov`` frame.
    :param dict_obs: observations are ``{"pov": frame}`` if True, else the frame itself.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, pov_shape: tuple[int, int, int] = POV_SHAPE, dict_obs: bool = True) -> None:
        self.action_space = minerl_action_space()
        pov_space = spaces.Box(0, 255, pov_shape, np.uint8)
        self.observation_space = spaces.Dict({"pov": pov_space}) if dict_obs else pov_space
        self.pov_shape = pov_shape
        self.dict_obs = dict_obs
        self.actions: list[dict[str, Any]] = []

    def _obs(self) -> Any:
        frame = self.np_random.integers(0, 256, self.pov_shape, dtype=np.uint8)
        return {"pov": frame} if self.dict_obs else frame

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action: dict[str, Any]) -> tuple[Any, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"action not in MineRL's action space: {action!r}")
        self.actions.append(action)
        return self._obs(), 0.0, False, False, {}

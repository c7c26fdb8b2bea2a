"""VPT's observation: the ``pov`` frame resized to 128x128 RGB uint8 with OpenCV's bilinear filter."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import gymnasium as gym
import numpy as np


class VPTObservationWrapper(gym.ObservationWrapper):
    """Replace a MineRL observation by VPT's input frame: ``pov`` resized to ``size x size``.

    Exactly as the reference agent does it: ``cv2.resize(pov, (size, size),
    interpolation=cv2.INTER_LINEAR)``, the aspect ratio *not* kept (MineRL's 640x360 is squashed to
    128x128), channels stay RGB, dtype stays uint8. OpenCV's uint8 bilinear filter is not bit-identical
    to ``torch.nn.functional.interpolate``; use this wrapper for parity with VPT's weights.

    The observation may be a dict with a ``"pov"`` entry (MineRL; the other entries are dropped) or the
    frame itself. Anything other than a uint8 ``(H, W, 3)`` frame raises a ``ValueError``.

    :param env: a MineRL-like env (``pov`` observations of shape ``(H, W, 3)``, uint8).
    :param size: side of the square output frame (VPT: 128).

    Example::

        >>> import gymnasium as gym
        >>> import numpy as np
        >>> class MineRLLike(gym.Env):  # stands in for gym.make("MineRLBasaltFindCave-v0")
        ...     observation_space = gym.spaces.Dict({"pov": gym.spaces.Box(0, 255, (360, 640, 3), np.uint8)})
        ...     action_space = gym.spaces.Discrete(1)
        ...     def reset(self, *, seed=None, options=None):
        ...         return {"pov": np.full((360, 640, 3), 7, np.uint8)}, {}
        >>> env = VPTObservationWrapper(MineRLLike())
        >>> env.observation_space
        Box(0, 255, (128, 128, 3), uint8)
        >>> frame, info = env.reset()
        >>> frame.shape, frame.dtype, int(frame.max())
        ((128, 128, 3), dtype('uint8'), 7)
    """

    def __init__(self, env: gym.Env, size: int = 128) -> None:
        super().__init__(env)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"VPTObservationWrapper size must be a positive integer; got {size!r}")
        space = env.observation_space
        entries = getattr(space, "spaces", None)  # a gymnasium (or MineRL/gym) Dict space
        if isinstance(entries, Mapping):
            if "pov" not in entries:
                raise ValueError(
                    f"VPTObservationWrapper needs a 'pov' entry in the env's Dict observation space; "
                    f"it has {list(entries)}"
                )
            space = entries["pov"]
        shape = getattr(space, "shape", None)
        if shape is None or len(shape) != 3 or shape[-1] != 3:
            raise ValueError(
                f"VPTObservationWrapper needs (H, W, 3) RGB frames (obs['pov'] or the observation); the "
                f"env's observation space is {env.observation_space!r}"
            )
        self.size = int(size)
        self.observation_space = gym.spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        """``obs["pov"]`` (or ``obs``) -> the ``(size, size, 3)`` uint8 frame."""
        if isinstance(observation, Mapping):
            if "pov" not in observation:
                raise ValueError(
                    f"VPTObservationWrapper expected a 'pov' entry; the observation has {list(observation)}"
                )
            pov = observation["pov"]
        else:
            pov = observation
        if not isinstance(pov, np.ndarray) or pov.dtype != np.uint8 or pov.ndim != 3 or pov.shape[-1] != 3:
            description = (
                f"shape {pov.shape}, dtype {pov.dtype}" if isinstance(pov, np.ndarray) else type(pov).__name__
            )
            raise ValueError(
                f"VPTObservationWrapper expected a uint8 (H, W, 3) RGB pov frame; got {description}"
            )
        return cv2.resize(np.ascontiguousarray(pov), (self.size, self.size), interpolation=cv2.INTER_LINEAR)

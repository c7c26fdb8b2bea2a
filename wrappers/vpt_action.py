"""VPT's joint action space, ``MultiDiscrete([8641, 121])``, on top of a MineRL 1.0 environment."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from vpt_gym.actions import (
    BUTTONS,
    MINERL_ACTION_KEYS,
    MINERL_BINARY_KEYS,
    ActionMapping,
    agent_action_space,
)

_EXPECTED = "an integer array [button class, camera class] of MultiDiscrete([8641, 121])"


def _check_minerl_action_space(space: Any) -> None:
    """Raise a ``ValueError`` unless ``space`` is MineRL 1.0's 24-key action dict."""
    keys = getattr(space, "spaces", None)
    if not isinstance(keys, Mapping):
        raise ValueError(
            f"VPTActionWrapper needs an env whose action space is MineRL 1.0's Dict of 24 keys "
            f"{MINERL_ACTION_KEYS}; got {space!r}"
        )
    missing = [key for key in MINERL_ACTION_KEYS if key not in keys]
    extra = [key for key in keys if key not in MINERL_ACTION_KEYS]
    if missing or extra:
        raise ValueError(
            f"VPTActionWrapper needs MineRL 1.0's 24 action keys; the env's action space is missing "
            f"{missing} and has unexpected keys {extra}"
        )
    for key in MINERL_BINARY_KEYS:
        if getattr(keys[key], "n", None) != 2:
            raise ValueError(f"MineRL action {key!r} must be Discrete(2); got {keys[key]!r}")
    if tuple(getattr(keys["camera"], "shape", ()) or ()) != (2,):
        raise ValueError(f"MineRL action 'camera' must be a Box of shape (2,); got {keys['camera']!r}")


class VPTActionWrapper(gym.ActionWrapper):
    """Expose VPT's agent action space ``MultiDiscrete([8641, 121])`` on a MineRL 1.0 env.

    An action is ``[button class, camera class]`` (see :mod:`vpt_gym.actions`). :meth:`action` turns it
    into MineRL's full 24-key dict: the 20 model buttons as Python ints 0/1, ``ESC``, ``pickItem`` and
    ``swapHands`` (never predicted by VPT) set to 0, and ``camera`` as a float32 array ``[pitch, yaw]``
    in degrees (VPT's float64 bin centres cast to MineRL's float32 ``Box``). The camera class is used only
    when the button class's camera meta action is on (and, as in the reference, for the inventory class).

    Wrong input is rejected, never clipped: a ``ValueError`` names the value and the expected
    ``MultiDiscrete([8641, 121])`` for a wrong shape, a non-integer dtype (floats and NaN included) or a
    class out of range.

    :param env: an env whose action space is MineRL 1.0's 24-key ``Dict``.

    Example::

        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from vpt_gym.actions import minerl_action_space
        >>> class MineRLLike(gym.Env):  # stands in for gym.make("MineRLBasaltFindCave-v0")
        ...     action_space = minerl_action_space()
        ...     observation_space = gym.spaces.Box(0, 255, (360, 640, 3), np.uint8)
        >>> env = VPTActionWrapper(MineRLLike())
        >>> env.action_space
        MultiDiscrete([8641  121])
        >>> minerl_action = env.action(np.array([289, 64]))  # forward, camera bins (5, 9)
        >>> minerl_action["forward"], minerl_action["ESC"], minerl_action["camera"]
        (1, 0, array([0.      , 5.809483], dtype=float32))
        >>> env.reverse_action(minerl_action)
        array([289,  64])
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        _check_minerl_action_space(env.action_space)
        self.action_space = agent_action_space()
        self._mapping = ActionMapping()
        mapping = self._mapping.mapping
        # Lookup tables for the per-step path: the 23 binary keys of each button class (MineRL order,
        # ignored keys 0), whether it uses the camera class, and the float32 angles of each camera class.
        columns = [BUTTONS.index(key) if key in BUTTONS else -1 for key in MINERL_BINARY_KEYS]
        table = mapping.button_table[:, [max(column, 0) for column in columns]].copy()
        table[:, [i for i, column in enumerate(columns) if column < 0]] = 0
        self._binary_rows = table
        self._camera_used = mapping.camera_flag(np.arange(mapping.n_button_classes)).tolist()
        self._camera32 = self._mapping.camera_values.astype(np.float32)
        self._null_camera_class = mapping.null_camera_class
        self._n_buttons, self._n_cameras = self._mapping.nvec

    def _parse(self, action: Any) -> tuple[int, int]:
        """``(button class, camera class)`` as Python ints; ``ValueError`` on anything else."""
        if type(action) is np.ndarray and action.shape == (2,) and action.dtype.kind in "iu":
            button_class, camera_class = action.tolist()
        else:
            array = np.asarray(action) if not isinstance(action, Mapping) else None
            if array is None or array.dtype.kind not in "iu":
                dtype = "a dict" if array is None else f"dtype {array.dtype}"
                raise ValueError(f"VPTActionWrapper expected {_EXPECTED}; got {dtype}: {action!r}")
            if array.shape != (2,):
                raise ValueError(
                    f"VPTActionWrapper expected {_EXPECTED} of shape (2,); got shape {array.shape}: {action!r}"
                )
            button_class, camera_class = array.tolist()
        if not (0 <= button_class < self._n_buttons and 0 <= camera_class < self._n_cameras):
            raise ValueError(
                f"VPTActionWrapper action {action!r} out of range: expected button class in [0, "
                f"{self._n_buttons}) and camera class in [0, {self._n_cameras}) (MultiDiscrete([8641, 121]))"
            )
        return button_class, camera_class

    def action(self, action: Any) -> dict[str, Any]:
        """``[button class, camera class]`` -> MineRL 1.0's 24-key action dict.

        :param action: an integer array (or sequence) of shape ``(2,)``.
        :raises ValueError: on a wrong shape, a non-integer dtype or a class out of range.
        """
        button_class, camera_class = self._parse(action)
        row = self._binary_rows[button_class].tolist()
        minerl_action: dict[str, Any] = dict(zip(MINERL_BINARY_KEYS, row))
        if not self._camera_used[button_class]:
            camera_class = self._null_camera_class
        minerl_action["camera"] = self._camera32[camera_class].copy()
        return minerl_action

    def reverse_action(self, action: Mapping[str, Any]) -> np.ndarray:
        """A MineRL action dict -> ``[button class, camera class]`` (via ``env_to_agent``).

        Useful to turn recorded (human) MineRL actions into VPT labels. A batched dict gives ``(B, 2)``.
        """
        return self._mapping.env_to_agent(action)

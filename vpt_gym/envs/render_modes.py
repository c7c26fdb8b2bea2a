"""The render modes of vpt-gym's envs: ``None``, ``"rgb_array"``, and ``"human"`` where a display exists.

Every env renders ``"rgb_array"`` frames (``(size, size, 3)`` uint8). ``render_mode="human"`` shows
those frames in a window through gymnasium's ``HumanRendering`` wrapper (pygame; the ``human``
extra). It needs a display: on Linux ``DISPLAY`` or ``WAYLAND_DISPLAY`` must be set (or an SDL video
driver chosen with ``SDL_VIDEODRIVER``, e.g. ``dummy`` for a window that is drawn nowhere). Without
one, :func:`check_render_mode` refuses ``"human"`` with a message that names what works instead:
``"rgb_array"``, and ``gymnasium.wrappers.RecordVideo`` to save videos (moviepy, in the ``bench``
extra).

Example::

    >>> check_render_mode("rgb_array")
    >>> check_render_mode("ascii")
    Traceback (most recent call last):
    ...
    ValueError: render_mode must be None, 'rgb_array' or 'human' (a window; needs a display), got 'ascii'
"""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import gymnasium as gym

from vpt_gym.optional import MissingDependency, install_command

__all__ = ["RENDER_MODES", "check_render_mode", "frame_render_mode", "has_display", "show_in_window"]

#: What ``render_mode`` accepts.
RENDER_MODES = (None, "rgb_array", "human")
HUMAN_INSTALL_HINT = install_command("human") + "  (in the vpt-gym checkout; vpt-gym is not on PyPI)"


def has_display() -> bool:
    """Whether a window can be opened: macOS and Windows always; elsewhere ``DISPLAY``,
    ``WAYLAND_DISPLAY`` or an explicit ``SDL_VIDEODRIVER``."""
    if sys.platform in ("darwin", "win32"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"))


def check_render_mode(render_mode: Any) -> None:
    """Raise a clear error unless ``render_mode`` can be honoured here.

    :param render_mode: the ``render_mode`` given to an env factory.
    :raises ValueError: an unknown mode, or ``"human"`` without a display (the message lists what
        is supported).
    :raises vpt_gym.optional.MissingDependency: ``"human"`` without pygame (names the pip extra).
    """
    if render_mode not in RENDER_MODES:
        raise ValueError(
            "render_mode must be None, 'rgb_array' or 'human' (a window; needs a display), "
            f"got {render_mode!r}"
        )
    if render_mode != "human":
        return
    if not has_display():
        raise ValueError(
            "render_mode='human' opens a window, but there is no display here (neither DISPLAY nor "
            "WAYLAND_DISPLAY is set). Supported without a display: render_mode=None and "
            "render_mode='rgb_array' (frames as arrays; save them as a video with "
            "gymnasium.wrappers.RecordVideo, which needs the 'bench' extra)."
        )
    if importlib.util.find_spec("pygame") is None:
        raise MissingDependency(
            "render_mode='human' draws its window with pygame, which is not installed. "
            f"Install it with: {HUMAN_INSTALL_HINT}"
        )


def frame_render_mode(render_mode: str | None) -> str | None:
    """The mode the env itself is built with: ``"human"`` is drawn from ``"rgb_array"`` frames."""
    return "rgb_array" if render_mode == "human" else render_mode


def show_in_window(env: gym.Env, render_mode: str | None) -> gym.Env:
    """Wrap ``env`` in gymnasium's ``HumanRendering`` when ``render_mode == "human"``.

    :param env: an env built with ``render_mode="rgb_array"`` whose metadata has ``render_fps``.
    :param render_mode: the mode the user asked for (checked with :func:`check_render_mode`).
    """
    if render_mode != "human":
        return env
    return gym.wrappers.HumanRendering(env)

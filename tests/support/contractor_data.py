"""Builders of small contractor-format data (mp4 + jsonl) with known actions, and doubles for labelling.

The jsonl steps are written by hand here (not with the package's writer), so the reader is tested
against data whose meaning is known independently.
"""
from __future__ import annotations

import json
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def json_step(
    keys: Sequence[str] = (),
    buttons: Sequence[int] = (),
    new_buttons: Sequence[int] = (),
    dx: float = 0.0,
    dy: float = 0.0,
    hotbar: int | None = 0,
    gui: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """One recorder step as OpenAI's contractor jsonl stores it (fields the reader does not use included)."""
    x, y = gui if gui is not None else (640.0, 360.0)
    step: dict[str, Any] = {
        "mouse": {
            "x": x, "y": y, "dx": dx, "dy": dy, "scaledX": x - 640.0, "scaledY": y - 360.0, "dwheel": 0.0,
            "buttons": list(buttons), "newButtons": list(new_buttons),
        },
        "keyboard": {"keys": list(keys), "newKeys": list(keys), "chars": ""},
        "isGuiOpen": gui is not None,
        "isGuiInventory": gui is not None,
        "yaw": 0.0, "pitch": 0.0, "xpos": 0.5, "ypos": 64.0, "zpos": 0.5,
        "tick": 0, "milli": 0, "inventory": [], "serverTick": 0, "serverTickDurationMs": 50.0, "stats": {},
    }  # fmt: skip
    if hotbar is not None:
        step["hotbar"] = hotbar
    return step


def gray_frames(n: int, height: int = 360, width: int = 640, start: int = 20, step: int = 25) -> np.ndarray:
    """``n`` uniform RGB frames whose gray level encodes the index: ``start + step * t`` (mod 230)."""
    levels = (start + step * np.arange(n)) % 230
    return np.broadcast_to(levels[:, None, None, None], (n, height, width, 3)).astype(np.uint8)


def write_video_bgr(path: Path, frames_bgr: np.ndarray, fps: float = 20.0) -> Path:
    """Write BGR frames ``(n, H, W, 3)`` with OpenCV's mp4v codec (exactly what cv2 will decode as BGR)."""
    height, width = frames_bgr.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), f"cv2 cannot write {path}"
    for frame in frames_bgr:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    return path


def write_jsonl_lines(path: Path, steps: Sequence[Any]) -> Path:
    """Write one JSON value per line (a str step is written verbatim, to make broken lines)."""
    with open(path, "w", encoding="utf-8") as file:
        for step in steps:
            file.write((step if isinstance(step, str) else json.dumps(step)) + "\n")
    return path


def write_pair(
    root: Path, name: str, steps: Sequence[Any], frames_rgb: np.ndarray | None = None
) -> tuple[Path, Path]:
    """Write ``<root>/<name>.mp4`` (gray frames by default, one per step) and ``<root>/<name>.jsonl``."""
    root.mkdir(parents=True, exist_ok=True)
    if frames_rgb is None:
        frames_rgb = gray_frames(len(steps))
    video = write_video_bgr(root / f"{name}.mp4", frames_rgb[..., ::-1])
    jsonl = write_jsonl_lines(root / f"{name}.jsonl", steps)
    return video, jsonl


def brightness_labeller(calls: list[int] | None = None) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A fake IDM: labels each frame with ``forward = 1`` and camera ``[0, mean gray level]`` degrees.

    Gray levels survive mp4v compression of uniform frames within a few units, so a test can recover
    each frame's index from its label. ``calls`` (if given) collects the window lengths it was called on.
    """

    def label(frames: np.ndarray) -> dict[str, np.ndarray]:
        if calls is not None:
            calls.append(len(frames))
        assert frames.dtype == np.uint8 and frames.shape[1:] == (128, 128, 3), frames.shape
        level = frames.reshape(len(frames), -1).mean(axis=1)
        return {
            "forward": np.ones(len(frames), np.int64),
            "camera": np.stack([np.zeros(len(frames)), np.round(level)], axis=1),
        }

    return label


class FailingLabeller:
    """A labeller that raises on its ``fail_on``-th call (1-based) and otherwise labels everything null."""

    def __init__(self, fail_on: int) -> None:
        self.fail_on = fail_on
        self.calls = 0

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("labeller crashed")
        return np.tile(np.array([0, 60], np.int64), (len(frames), 1))


def fake_ray_module() -> types.ModuleType:
    """A synchronous stand-in for the parts of Ray that ``label_directory`` uses.

    ``remote(fn).options(...).remote(*args)`` runs ``fn`` at once (object refs given as arguments are
    resolved, as Ray does for top-level arguments); ``wait`` returns one finished ref at a time.
    ``module.log`` records the calls.
    """
    ray = types.ModuleType("ray")
    ray.log = []  # type: ignore[attr-defined]
    state = {"initialized": False}

    class ObjectRef:
        def __init__(self, value: Any) -> None:
            self.value = value

    def is_initialized() -> bool:
        return state["initialized"]

    def init(**kwargs: Any) -> None:
        ray.log.append(("init", kwargs))
        state["initialized"] = True

    def put(value: Any) -> ObjectRef:
        ray.log.append(("put", type(value).__name__))
        return ObjectRef(value)

    def get(ref: ObjectRef) -> Any:
        return ref.value

    def wait(refs: list[ObjectRef], num_returns: int = 1) -> tuple[list[ObjectRef], list[ObjectRef]]:
        return refs[:num_returns], refs[num_returns:]

    class RemoteFunction:
        def __init__(self, fn: Callable[..., Any], options: dict[str, Any] | None = None) -> None:
            self.fn, self.opts = fn, options or {}

        def options(self, **options: Any) -> "RemoteFunction":
            return RemoteFunction(self.fn, options)

        def remote(self, *args: Any) -> ObjectRef:
            ray.log.append(("task", self.opts))
            return ObjectRef(self.fn(*(a.value if isinstance(a, ObjectRef) else a for a in args)))

    ray.is_initialized = is_initialized  # type: ignore[attr-defined]
    ray.init = init  # type: ignore[attr-defined]
    ray.put = put  # type: ignore[attr-defined]
    ray.get = get  # type: ignore[attr-defined]
    ray.wait = wait  # type: ignore[attr-defined]
    ray.remote = RemoteFunction  # type: ignore[attr-defined]
    return ray


class DiesOnce:
    """A labeller whose process is killed (SIGKILL) on its first call anywhere, then labels with ``inner``.

    The first call creates ``marker`` and kills its own process, so only one call in the whole job (the
    first, in whichever Ray worker) dies; later calls, in any process, see the marker and label normally.
    """

    def __init__(self, marker: str, inner: Callable[[np.ndarray], Any]) -> None:
        self.marker, self.inner = marker, inner

    def __call__(self, frames: np.ndarray) -> Any:
        import os
        import signal

        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return self.inner(frames)
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable: the process was killed")

"""VPT's contractor data format: ``.mp4`` + ``.jsonl`` pairs, read into training steps and written back.

A *pair* is a video (640x360 at 20 Hz for OpenAI's contractor data) and a ``.jsonl`` file with one JSON
object per video frame: the keyboard and mouse state recorded during that frame (spec vpt.md 6.1). The
reader turns every frame into a training step ``(frame, env action, agent action)``:

* the frame: BGR (cv2) -> RGB; while the GUI is open, a 16x16 white mouse cursor is alpha-composited at
  ``(mouse.x, mouse.y) * frame_height / 720`` (the recordings were 720p, stored at 360p); then resized to
  128x128 with ``cv2.INTER_LINEAR`` (spec 2; aspect ratio not kept);
* the env action (a MineRL 1.0 dict, all 24 keys): Minecraft key names -> MineRL keys
  (:data:`KEYBOARD_TO_MINERL`), mouse buttons 0/1/2 -> attack/use/pickItem, camera
  ``[dy, dx] * 0.15`` degrees ([pitch, yaw]);
* the agent action ``[button class, camera class]`` from :func:`vpt_gym.actions.env_to_agent` (the one
  action mapping of the package).

Rules of the reference (``openai/Video-Pre-Training``, ``data_loader.py`` and
``run_inverse_dynamics_model.py``), kept:

* **stuck attack**: if the first step's ``mouse.newButtons == [0]``, attack is considered stuck and is
  removed from every step until a step newly presses it (0 in ``newButtons``);
* **hotbar**: when the ``hotbar`` field (0-8) differs from the previous step's (initially 0), the step
  presses ``hotbar.{hotbar + 1}``, so scroll-wheel changes become key presses;
* unmapped Minecraft keys (``key.keyboard.t``, ``key.keyboard.f3``, ...) are ignored.

Documented fixes and choices (differences from the reference):

* **camera as floats** (reference issue #54): the reference writes ``dx * 0.15`` into an *integer*
  array, truncating toward zero (``dx = 7`` -> 1.05 degrees becomes 1, ``|angle| < 1`` becomes 0). Here the
  camera is float64, ``dx = 7`` -> 1.05. No clipping happens here: the quantizer clips at +-10 degrees.
* **null actions**: the reference's data loader drops steps whose *jsonl* has no mapped key, no mouse
  motion and no mouse button (``drop_null="json"``), and its agent-space check is dead code (spec 11).
  The default here is the intended rule, ``drop_null="agent"``: drop a step when its final env action
  (after the stuck-attack and hotbar rules) has all 20 VPT buttons off and both camera bins at the zero
  bin (:func:`vpt_gym.actions.is_null_env_action`). ``drop_null="none"`` keeps every frame, which IDM
  training needs (its 128-frame windows must be contiguous video).
* **cursor image**: OpenAI's cursor PNG cannot be shipped; :func:`cursor_image` draws an arrow of the
  same size in code (white fill, black outline, opaque; transparent elsewhere). Compositing follows the
  reference (``(frame * (1 - a) + cursor * a)`` truncated to uint8), and a cursor partly outside the
  frame, including at negative coordinates, is cropped instead of being mis-sliced.
* **exact camera in written files**: ``dx * 0.15`` cannot reproduce every float, so
  :func:`env_action_to_json_step` also stores the camera in degrees in the extension field
  :data:`CAMERA_FIELD` (other readers ignore it); the reader uses it when present, after checking that
  it agrees with ``dy, dx * 0.15``.
* **bad data is reported, not fatal**: a pair whose jsonl is not valid JSON, lacks a required field, names
  a key that is not a Minecraft key name, or whose video is unreadable or has a different number of
  frames than the jsonl has lines, raises :class:`ContractorFormatError` in :func:`read_pair`; the
  multi-file :class:`ContractorReader` records it in ``problems`` (file, reason) and goes on.

**Other games** (``action_codec``): the jsonl of a dataset may hold another game's actions; the codec named
by ``action_codec`` (:mod:`agents.vpt.action_codecs`: ``"minecraft"``, the default, or ``"crafter"``)
decodes and encodes them, and everything else here (video, checks, chunks, threads, atomic writes) is
shared. The Minecraft-specific rules above (stuck attack, hotbar, cursor, camera) belong to the
``"minecraft"`` codec.

Frames are streamed from ``cv2.VideoCapture`` in chunks (never the whole video in memory). Optional jsonl
fields and their defaults: ``mouse.newButtons`` ([]), ``hotbar`` (unchanged), ``isGuiOpen`` (False);
``mouse.x``/``mouse.y`` are required only while the GUI is open.

Example::

    >>> import numpy as np, tempfile, os
    >>> from agents.vpt.contractor import ContractorWriter, read_pair
    >>> root = tempfile.mkdtemp()
    >>> with ContractorWriter(os.path.join(root, "demo")) as writer:
    ...     for t in range(3):
    ...         writer.write(np.zeros((64, 64, 3), np.uint8), {"forward": 1, "camera": [0.0, 1.05 * t]})
    >>> [step.env_action["camera"].tolist() for chunk in read_pair(os.path.join(root, "demo.mp4"))
    ...  for step in chunk.steps()]
    [[0.0, 0.0], [0.0, 1.05], [0.0, 2.1]]
"""
from __future__ import annotations

import json
import math
import os
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from vpt_gym.actions import MINERL_ACTION_KEYS, MINERL_BINARY_KEYS, env_to_agent, is_null_env_action
from vpt_gym.atomic_file import commit, temporary_path, write_atomic

__all__ = [
    "KEYBOARD_TO_MINERL",
    "MOUSE_BUTTON_TO_MINERL",
    "CAMERA_SCALER",
    "ORIGINAL_HEIGHT_PX",
    "CAMERA_FIELD",
    "AGENT_RESOLUTION",
    "ContractorFormatError",
    "ContractorPair",
    "ContractorChunk",
    "ContractorStep",
    "FileProblem",
    "StepConverter",
    "cursor_image",
    "draw_cursor",
    "resize_frame",
    "find_pairs",
    "read_jsonl",
    "iter_video_chunks",
    "count_video_frames",
    "read_pair",
    "ContractorReader",
    "env_action_to_json_step",
    "ContractorWriter",
    "write_jsonl",
    "agent_actions_of",
]

#: Minecraft key names of the recorder -> MineRL 1.0 keys (minerl ``mc.KEYMAP``; spec 6.2).
KEYBOARD_TO_MINERL: dict[str, str] = {
    "key.keyboard.escape": "ESC",
    "key.keyboard.s": "back",
    "key.keyboard.q": "drop",
    "key.keyboard.w": "forward",
    **{f"key.keyboard.{i}": f"hotbar.{i}" for i in range(1, 10)},
    "key.keyboard.e": "inventory",
    "key.keyboard.space": "jump",
    "key.keyboard.a": "left",
    "key.keyboard.d": "right",
    "key.keyboard.left.shift": "sneak",
    "key.keyboard.left.control": "sprint",
    "key.keyboard.f": "swapHands",
}

#: Recorder mouse button numbers -> MineRL keys.
MOUSE_BUTTON_TO_MINERL: dict[int, str] = {0: "attack", 1: "use", 2: "pickItem"}

#: Degrees of camera rotation per mouse pixel (MineRL's ``CAMERA_SCALER`` = 360 / 2400).
CAMERA_SCALER = 360.0 / 2400.0

#: vpt-gym's extension field of a jsonl step: the exact camera ``[pitch, yaw]`` in degrees (see
#: :func:`env_action_to_json_step`). Real contractor data does not have it.
CAMERA_FIELD = "vptGymCamera"

#: Height (pixels) of the original recordings; mouse x/y are in this resolution.
ORIGINAL_HEIGHT_PX = 720

#: Side of the square frames the VPT networks read.
AGENT_RESOLUTION = 128

_MINERL_TO_KEYBOARD = {minerl: key for key, minerl in KEYBOARD_TO_MINERL.items()}
_MINERL_TO_MOUSE = {minerl: button for button, minerl in MOUSE_BUTTON_TO_MINERL.items()}
_KEY_NAME = re.compile(r"^key\.(keyboard|mouse)\.[A-Za-z0-9_.\-]+$")

NullRule = Literal["agent", "json", "none"]
_NULL_RULES = ("agent", "json", "none")


class ContractorFormatError(ValueError):
    """A contractor pair (video + jsonl) cannot be read; the message names the file and the reason."""


# ---------------------------------------------------------------------------------------------------
# Frames: cursor, resize, streaming
# ---------------------------------------------------------------------------------------------------


def cursor_image(size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A mouse-cursor arrow drawn in code: ``(rgb (size, size, 3) uint8, alpha (size, size, 1) float64)``.

    It stands in for OpenAI's ``mouse_cursor_white_16x16.png`` (not redistributable): a left-aligned arrow
    with its tip at the top-left pixel, white inside, a 1-pixel black outline, alpha 1 on the arrow and 0
    elsewhere. The arrow's body is a right triangle of height ``0.7 * size`` with a tail below it.

    :param size: side in pixels (16 in VPT).
    """
    if size < 4:
        raise ValueError(f"cursor size must be >= 4 pixels; got {size}")
    body = int(round(0.7 * size))  # rows of the triangular head
    inside = np.zeros((size, size), bool)
    for row in range(body):
        inside[row, : row + 1] = True
    tail_width = max(3, size // 4)
    start = max(1, body // 3)
    for row in range(body - 1, size - 1):
        col = start + (row - body + 1) // 2
        inside[row, col : col + tail_width] = True
    # outline: pixels of the shape that touch the outside (4-neighbourhood) or the image border rows/cols
    padded = np.pad(inside, 1, constant_values=False)
    interior = (
        padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    )
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[interior] = 255
    alpha = inside.astype(np.float64)[..., None]
    return rgb, alpha


_CURSOR_RGB, _CURSOR_ALPHA = cursor_image(16)


def draw_cursor(frame: np.ndarray, x: float, y: float, original_height: int = ORIGINAL_HEIGHT_PX) -> None:
    """Alpha-composite the cursor onto ``frame`` (H, W, 3) uint8 in place, at the recorder's mouse position.

    The top-left of the cursor goes to ``(int(x * H / original_height), int(y * H / original_height))``,
    as in the reference; parts outside the frame are cropped (the reference mis-slices negative positions).

    :param frame: the frame to draw on (any channel order: the cursor is black and white).
    :param x: ``mouse.x`` of the jsonl step, in original (720p) pixels.
    :param y: ``mouse.y`` of the jsonl step.
    :param original_height: height of the recording the mouse position refers to.
    """
    scale = frame.shape[0] / original_height
    left, top = int(x * scale), int(y * scale)
    size = _CURSOR_RGB.shape[0]
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + size, frame.shape[0]), min(left + size, frame.shape[1])
    if r1 <= r0 or c1 <= c0:
        return
    cursor = _CURSOR_RGB[r0 - top : r1 - top, c0 - left : c1 - left]
    alpha = _CURSOR_ALPHA[r0 - top : r1 - top, c0 - left : c1 - left]
    region = frame[r0:r1, c0:c1]
    frame[r0:r1, c0:c1] = (region * (1.0 - alpha) + cursor * alpha).astype(np.uint8)


def resize_frame(frame: np.ndarray, resolution: int = AGENT_RESOLUTION) -> np.ndarray:
    """``frame`` (H, W, 3) uint8 -> (resolution, resolution, 3) with ``cv2.INTER_LINEAR`` (VPT's resize)."""
    if frame.shape[:2] == (resolution, resolution):
        return frame
    return cv2.resize(frame, (resolution, resolution), interpolation=cv2.INTER_LINEAR)


def count_video_frames(path: str | os.PathLike) -> int:
    """Frame count from the container header (``CAP_PROP_FRAME_COUNT``); -1 if unknown or unreadable."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return -1
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return count if count > 0 else -1
    finally:
        capture.release()


def iter_video_chunks(
    path: str | os.PathLike, chunk_size: int = 64, resolution: int | None = AGENT_RESOLUTION
) -> Iterator[np.ndarray]:
    """Stream a video as RGB uint8 chunks ``(n <= chunk_size, H, W, 3)``, resized to ``resolution``.

    :param path: a video file cv2 can read.
    :param chunk_size: frames per chunk (the last chunk may be shorter).
    :param resolution: square side to resize to (INTER_LINEAR); None keeps the original size.
    :raises ContractorFormatError: if the file cannot be opened.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ContractorFormatError(f"{path}: cannot open the video (missing, corrupt or unknown codec)")
        chunk: list[np.ndarray] = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            chunk.append(frame if resolution is None else resize_frame(frame, resolution))
            if len(chunk) == chunk_size:
                yield np.stack(chunk)
                chunk = []
        if chunk:
            yield np.stack(chunk)
    finally:
        capture.release()


# ---------------------------------------------------------------------------------------------------
# jsonl -> env actions
# ---------------------------------------------------------------------------------------------------


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Parse a contractor ``.jsonl`` file (one JSON object per line; blank lines are not allowed).

    :raises ContractorFormatError: naming the file and line of the first bad line.
    """
    steps: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                try:
                    step = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ContractorFormatError(f"{path}:{number}: invalid JSON ({err.msg})") from None
                if not isinstance(step, dict):
                    raise ContractorFormatError(
                        f"{path}:{number}: expected a JSON object per line; got {type(step).__name__}"
                    )
                steps.append(step)
    except (OSError, UnicodeDecodeError) as err:
        raise ContractorFormatError(f"{path}: cannot read the jsonl file ({err})") from None
    return steps


def _field(step: Mapping[str, Any], path: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``step[a][b]`` for ``path = "a.b"``, checked to be of ``kind`` (bools are not numbers here)."""
    value: Any = step
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ContractorFormatError(f"{where}: missing field {path!r}")
        value = value[part]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise ContractorFormatError(f"{where}: field {path!r} must be {expected}; got {value!r}")
    return value


def _number(step: Mapping[str, Any], path: str, where: str) -> float:
    value = float(_field(step, path, (int, float), where))
    if not math.isfinite(value):
        raise ContractorFormatError(f"{where}: field {path!r} must be a finite number; got {value!r}")
    return value


def _int_list(step: Mapping[str, Any], path: str, where: str) -> list[int]:
    values = _field(step, path, list, where)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ContractorFormatError(f"{where}: field {path!r} must be a list of integers; got {values!r}")
    return values


class StepConverter:
    """Turns the jsonl steps of one file, in order, into MineRL env actions (stateful: stuck attack, hotbar).

    Use a fresh converter per file. Each call of :meth:`convert` returns ``(env_action, json_null)``:
    ``env_action`` has all 24 MineRL keys (ints, camera a float64 ``(2,)`` array of degrees) and
    ``json_null`` is the reference's jsonl-level null test (no mapped key, no mouse motion, no mouse
    button; computed before the hotbar rule, like the reference).

    :param strict_keys: also reject Minecraft key names that VPT does not map (by default they are ignored,
        as in the reference; real recordings contain chat, F3, ... keys).
    :param source: the file name used in error messages.
    """

    def __init__(self, strict_keys: bool = False, source: str = "<jsonl>") -> None:
        self.strict_keys = strict_keys
        self.source = source
        self._index = 0
        self._attack_stuck = False
        self._last_hotbar = 0

    def convert(self, step: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Convert the next step. :raises ContractorFormatError: on a missing/ill-typed field or a bad key."""
        where = f"{self.source}: step {self._index}"
        keys = _field(step, "keyboard.keys", list, where)
        buttons = _int_list(step, "mouse.buttons", where)
        new_buttons = _int_list(step, "mouse.newButtons", where) if "newButtons" in step["mouse"] else []
        dx = _number(step, "mouse.dx", where)
        dy = _number(step, "mouse.dy", where)

        if self._index == 0:
            self._attack_stuck = new_buttons == [0]
        elif self._attack_stuck and 0 in new_buttons:
            self._attack_stuck = False
        if self._attack_stuck:
            buttons = [b for b in buttons if b != 0]

        action: dict[str, Any] = {key: 0 for key in MINERL_BINARY_KEYS}
        json_null = True
        for key in keys:
            if not isinstance(key, str) or not _KEY_NAME.match(key):
                raise ContractorFormatError(
                    f"{where}: unknown key {key!r}; expected a Minecraft key name like 'key.keyboard.w'"
                )
            minerl_key = KEYBOARD_TO_MINERL.get(key)
            if minerl_key is None:
                if self.strict_keys:
                    raise ContractorFormatError(
                        f"{where}: key {key!r} has no MineRL action; mapped keys are {sorted(KEYBOARD_TO_MINERL)}"
                    )
                continue
            action[minerl_key] = 1
            json_null = False
        for button in buttons:
            minerl_key = MOUSE_BUTTON_TO_MINERL.get(button)
            if minerl_key is not None:
                action[minerl_key] = 1
                json_null = False
        # Fix of reference issue #54: float degrees, not an integer array.
        camera = np.array([dy * CAMERA_SCALER, dx * CAMERA_SCALER], dtype=np.float64)
        if CAMERA_FIELD in step:  # vpt-gym's exact camera; it must agree with the mouse deltas
            exact = step[CAMERA_FIELD]
            if (
                not isinstance(exact, list) or len(exact) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in exact)
            ):
                raise ContractorFormatError(f"{where}: field {CAMERA_FIELD!r} must be 2 finite numbers; got {exact!r}")
            exact = np.array(exact, dtype=np.float64)
            if not np.allclose(exact, camera, rtol=1e-9, atol=1e-9):
                raise ContractorFormatError(
                    f"{where}: field {CAMERA_FIELD!r} = {exact.tolist()} disagrees with mouse dy, dx * "
                    f"{CAMERA_SCALER} = {camera.tolist()}"
                )
            camera = exact
        action["camera"] = camera
        if dx != 0 or dy != 0:
            json_null = False

        if "hotbar" in step:
            hotbar = _field(step, "hotbar", int, where)
            if not 0 <= hotbar <= 8:
                raise ContractorFormatError(f"{where}: field 'hotbar' must be in [0, 8]; got {hotbar}")
            if hotbar != self._last_hotbar:
                action[f"hotbar.{hotbar + 1}"] = 1
            self._last_hotbar = hotbar
        self._index += 1
        return action, json_null


# ---------------------------------------------------------------------------------------------------
# Reading pairs
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractorPair:
    """One recording: a video and its jsonl actions.

    :param video: the ``.mp4`` file.
    :param jsonl: the ``.jsonl`` file (same stem by default).
    """

    video: Path
    jsonl: Path

    @property
    def name(self) -> str:
        """The recording's name (the video's stem)."""
        return self.video.stem

    @classmethod
    def of(cls, path: str | os.PathLike, jsonl: str | os.PathLike | None = None) -> "ContractorPair":
        """The pair of ``path`` (a ``.mp4``, a ``.jsonl`` or a stem); ``jsonl`` overrides the jsonl file."""
        path = Path(path)
        stem = path.with_suffix("") if path.suffix in (".mp4", ".jsonl") else path
        return cls(stem.with_suffix(".mp4"), Path(jsonl) if jsonl is not None else stem.with_suffix(".jsonl"))


@dataclass
class ContractorStep:
    """One training step of a recording.

    :param name: the recording's name.
    :param index: the step's line number in the jsonl (0-based; also its frame index).
    :param frame: (R, R, 3) uint8 RGB.
    :param env_action: MineRL env action (all 24 keys).
    :param agent_action: ``[button class, camera class]`` int64 (2,).
    """

    name: str
    index: int
    frame: np.ndarray
    env_action: dict[str, Any]
    agent_action: np.ndarray


@dataclass
class ContractorChunk:
    """Consecutive kept steps of one recording (null steps may have been dropped in between).

    :param name: the recording's name.
    :param indices: (n,) int64 jsonl line / frame index of each step.
    :param frames: (n, R, R, 3) uint8 RGB.
    :param env_actions: n MineRL env action dicts.
    :param agent_actions: (n, 2) int64 ``[button class, camera class]``.
    :param last: whether this is the recording's last chunk.
    """

    name: str
    indices: np.ndarray
    frames: np.ndarray
    env_actions: list[dict[str, Any]]
    agent_actions: np.ndarray
    last: bool = False

    def __len__(self) -> int:
        return len(self.indices)

    def steps(self) -> Iterator[ContractorStep]:
        """The chunk's steps one by one."""
        for i in range(len(self)):
            yield ContractorStep(
                self.name, int(self.indices[i]), self.frames[i], self.env_actions[i], self.agent_actions[i]
            )


def find_pairs(
    root: str | os.PathLike, labels_root: str | os.PathLike | None = None, recursive: bool = True
) -> tuple[list[ContractorPair], list[Path]]:
    """All ``.mp4`` files under ``root`` with a ``.jsonl`` of the same relative path and stem.

    Hidden files (a name starting with ``.``, e.g. the writers' temporary files) are ignored.

    :param root: directory of videos.
    :param labels_root: where the jsonl files are (same relative layout); default ``root``.
    :param recursive: also search sub-directories.
    :return: ``(pairs sorted by path, videos without a jsonl)``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"contractor data directory {str(root)!r} does not exist")
    labels = Path(labels_root) if labels_root is not None else root
    videos = sorted(root.rglob("*.mp4") if recursive else root.glob("*.mp4"))
    pairs, missing = [], []
    for video in videos:
        if any(part.startswith(".") for part in video.relative_to(root).parts):
            continue
        jsonl = (labels / video.relative_to(root)).with_suffix(".jsonl")
        (pairs.append(ContractorPair(video, jsonl)) if jsonl.is_file() else missing.append(video))
    return pairs, missing



def resolve_pairs(data: str | os.PathLike | Sequence[str | os.PathLike], labels: str | None = None) -> list[ContractorPair]:
    """The contractor pairs of a training run: a directory (searched with :func:`find_pairs`, labels
    optionally from ``labels``) or an explicit list of ``.mp4`` paths. No pair at all is an error.
    """
    if isinstance(data, (str, os.PathLike)):
        if not Path(data).is_dir():
            raise FileNotFoundError(f"data directory {str(data)!r} does not exist")
        pairs, _ = find_pairs(data, labels_root=labels)
    else:
        pairs = [ContractorPair.of(p) for p in data]
    if not pairs:
        raise ValueError(f"no labelled pairs (.mp4 + .jsonl) found in {data!r}")
    return pairs

def read_pair(
    pair: ContractorPair | str | os.PathLike,
    *,
    resolution: int = AGENT_RESOLUTION,
    chunk_size: int = 64,
    drop_null: NullRule = "agent",
    strict_keys: bool = False,
    stop: threading.Event | None = None,
    action_codec: str = "minecraft",
) -> Iterator[ContractorChunk]:
    """Stream one recording as :class:`ContractorChunk` s (frames decoded ``chunk_size`` at a time).

    The whole jsonl is parsed and checked, and the video's header frame count compared with its number of
    lines, before the first chunk is yielded, so most broken pairs fail before yielding anything. A frame
    that cannot be decoded, or a video longer or shorter than its header said, is only found while
    streaming: then the error comes after the chunks read so far.

    :param pair: a :class:`ContractorPair`, or the path of its ``.mp4`` / ``.jsonl`` / stem.
    :param resolution: side of the output frames.
    :param chunk_size: steps per chunk (counted before dropping null steps).
    :param drop_null: ``"agent"`` (default, VPT's intended rule), ``"json"`` (the reference data loader's)
        or ``"none"`` (keep every frame).
    :param strict_keys: reject Minecraft keys that VPT does not map (see :class:`StepConverter`).
    :param stop: when set, stop after the current chunk (used by :class:`ContractorReader`).
    :param action_codec: how the jsonl's actions are decoded (:mod:`agents.vpt.action_codecs`;
        ``"minecraft"`` or ``"crafter"``); the chunks' agent actions have that codec's ``agent_dims`` columns.
    :raises ContractorFormatError: naming the file and the reason.
    """
    from agents.vpt.action_codecs import get_codec  # the codecs build on this module: imported at call time

    codec = get_codec(action_codec)
    if drop_null not in _NULL_RULES:
        raise ValueError(f"drop_null must be one of {_NULL_RULES}; got {drop_null!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    if not isinstance(pair, ContractorPair):
        pair = ContractorPair.of(pair)
    steps = read_jsonl(pair.jsonl)
    converter = codec.decoder(str(pair.jsonl), strict_keys)
    converted = [converter.convert(step) for step in steps]  # validates every line before any frame work
    env_actions = [action for action, _ in converted]
    gui = []
    for index, step in enumerate(steps):
        gui_open = step.get("isGuiOpen", False)
        where = f"{pair.jsonl}: step {index}"
        if not isinstance(gui_open, bool):
            raise ContractorFormatError(f"{where}: 'isGuiOpen' must be true/false; got {gui_open!r}")
        gui.append((_number(step, "mouse.x", where), _number(step, "mouse.y", where)) if gui_open else None)
    # the whole file at once through the package's action mapping (vectorised)
    agent_actions, agent_null = codec.agent_actions(env_actions)
    keep = {
        "agent": ~agent_null,
        "json": np.array([not json_null for _, json_null in converted], dtype=bool),
        "none": np.ones(len(steps), dtype=bool),
    }[drop_null]
    if not pair.video.is_file():
        raise ContractorFormatError(f"{pair.video}: video file not found")
    n_frames = count_video_frames(pair.video)
    if n_frames > 0 and n_frames != len(steps):
        raise ContractorFormatError(
            f"{pair.video}: the video has {n_frames} frames but {pair.jsonl} has {len(steps)} lines; "
            "expected one jsonl line per frame"
        )
    capture = cv2.VideoCapture(str(pair.video))
    try:
        if not capture.isOpened():
            raise ContractorFormatError(f"{pair.video}: cannot open the video (corrupt or unknown codec)")
        for start in range(0, len(steps), chunk_size):
            indices, frames = [], []
            for index in range(start, min(start + chunk_size, len(steps))):
                if keep[index]:
                    ok, frame = capture.read()
                else:
                    ok, frame = capture.grab(), None  # dropped step: advance without converting the frame
                if not ok:
                    raise ContractorFormatError(
                        f"{pair.video}: cannot read frame {index} (the jsonl has {len(steps)} lines); the video "
                        "is shorter than its actions or corrupt"
                    )
                if frame is None:
                    continue
                if gui[index] is not None:
                    draw_cursor(frame, *gui[index])
                cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=frame)
                indices.append(index)
                frames.append(resize_frame(frame, resolution))
            last = start + chunk_size >= len(steps)
            if last and capture.grab():
                raise ContractorFormatError(
                    f"{pair.video}: the video has more frames than the {len(steps)} lines of {pair.jsonl}"
                )
            if indices or last:
                index_array = np.asarray(indices, dtype=np.int64)
                yield ContractorChunk(
                    name=pair.name,
                    indices=index_array,
                    frames=np.stack(frames) if frames else np.zeros((0, resolution, resolution, 3), np.uint8),
                    env_actions=[env_actions[i] for i in indices],
                    agent_actions=agent_actions[index_array],
                    last=last,
                )
            if stop is not None and stop.is_set():
                return
        if not steps and capture.grab():
            raise ContractorFormatError(f"{pair.video}: the video has frames but {pair.jsonl} is empty")
    finally:
        capture.release()


def agent_actions_of(env_actions: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """``(agent actions (N, 2) int64, null mask (N,) bool)`` of full 24-key env actions, in one batch."""
    if not env_actions:
        return np.zeros((0, 2), np.int64), np.zeros(0, bool)
    batch: dict[str, np.ndarray] = {
        key: np.fromiter((a[key] for a in env_actions), dtype=np.int64, count=len(env_actions))
        for key in MINERL_BINARY_KEYS
    }
    batch["camera"] = np.stack([a["camera"] for a in env_actions])
    return env_to_agent(batch), np.asarray(is_null_env_action(batch), dtype=bool)


@dataclass(frozen=True)
class FileProblem:
    """A recording that was skipped (or cut short) and why.

    :param pair: the recording.
    :param reason: the error message.
    :param steps_read: how many steps had already been delivered from it (0 for most problems).
    """

    pair: ContractorPair
    reason: str
    steps_read: int = 0


_DONE = object()


class ContractorReader:
    """Iterate over the chunks of many recordings with ``n_workers`` reader threads.

    Each worker takes whole recordings from a shared list and streams them with :func:`read_pair`;
    chunks of different recordings interleave, chunks of one recording arrive in order. Threads (not
    processes): video decoding, colour conversion and resizing run in OpenCV, which releases the GIL, and
    chunks need no pickling. A broken recording is recorded in :attr:`problems` and skipped; nothing
    raises out of the iteration for bad data. Breaking out of the loop stops the workers.

    :param pairs: recordings (:class:`ContractorPair` or paths).
    :param n_workers: reader threads (at most one per recording).
    :param progress: show a tqdm bar (unit: recordings) with the step count.
    :param max_queue: chunks buffered ahead of the consumer.
    :param read_kwargs: passed to :func:`read_pair` (``resolution``, ``chunk_size``, ``drop_null``,
        ``strict_keys``).

    Example::

        reader = ContractorReader(find_pairs("data/")[0], n_workers=4)
        for chunk in reader:
            train_on(chunk.frames, chunk.agent_actions)
        for problem in reader.problems:
            print(problem.pair.video, problem.reason)
    """

    def __init__(
        self,
        pairs: Iterable[ContractorPair | str | os.PathLike],
        n_workers: int = 2,
        progress: bool = True,
        max_queue: int = 16,
        **read_kwargs: Any,
    ) -> None:
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1; got {n_workers}")
        self.pairs = [p if isinstance(p, ContractorPair) else ContractorPair.of(p) for p in pairs]
        self.n_workers = n_workers
        self.progress = progress
        self.max_queue = max_queue
        self.read_kwargs = read_kwargs
        self.problems: list[FileProblem] = []
        self.n_steps = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def _work(self, todo: "queue.Queue[ContractorPair]", out: "queue.Queue[Any]", stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    pair = todo.get_nowait()
                except queue.Empty:
                    return
                delivered = 0
                try:
                    for chunk in read_pair(pair, stop=stop, **self.read_kwargs):
                        delivered += len(chunk)
                        if not self._put(out, chunk, stop):
                            return
                    self._put(out, ("done", pair), stop)
                except Exception as err:  # noqa: BLE001 - any failure of one file is reported, never fatal
                    reason = str(err) if isinstance(err, ContractorFormatError) else f"{type(err).__name__}: {err}"
                    self._put(out, FileProblem(pair, reason, delivered), stop)
        finally:
            out.put(_DONE)

    @staticmethod
    def _put(out: "queue.Queue[Any]", item: Any, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[ContractorChunk]:
        from tqdm.auto import tqdm

        todo: queue.Queue[ContractorPair] = queue.Queue()
        for pair in self.pairs:
            todo.put(pair)
        out: queue.Queue[Any] = queue.Queue(maxsize=self.max_queue)
        stop = threading.Event()
        n_threads = max(1, min(self.n_workers, len(self.pairs)))
        threads = [
            threading.Thread(target=self._work, args=(todo, out, stop), daemon=True, name=f"contractor-reader-{i}")
            for i in range(n_threads)
        ]
        for thread in threads:
            thread.start()
        bar = tqdm(total=len(self.pairs), unit="file", desc="contractor data", disable=not self.progress)
        running = n_threads
        try:
            while running:
                item = out.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, FileProblem):
                    self.problems.append(item)
                    bar.update(1)
                    bar.set_postfix(steps=self.n_steps, problems=len(self.problems))
                elif isinstance(item, tuple):
                    bar.update(1)
                    bar.set_postfix(steps=self.n_steps, problems=len(self.problems))
                else:
                    self.n_steps += len(item)
                    yield item
        finally:
            stop.set()
            while any(thread.is_alive() for thread in threads):
                try:  # unblock workers waiting on a full queue
                    out.get(timeout=0.05)
                except queue.Empty:
                    pass
            for thread in threads:
                thread.join()
            bar.close()


# ---------------------------------------------------------------------------------------------------
# Writing pairs
# ---------------------------------------------------------------------------------------------------


def _env_action_fields(env_action: Mapping[str, Any]) -> tuple[set[str], np.ndarray]:
    """Validated ``(pressed MineRL keys, camera float64 (2,))`` of one unbatched env action."""
    if not isinstance(env_action, Mapping):
        raise ValueError(f"an env action must be a dict of MineRL keys; got {type(env_action).__name__}")
    pressed = set()
    for key, value in env_action.items():
        if key == "camera":
            continue
        if key not in MINERL_BINARY_KEYS:
            raise ValueError(f"unknown env action key {key!r}; expected MineRL 1.0 keys {MINERL_ACTION_KEYS}")
        value = np.asarray(value)
        if value.shape != () or value.dtype.kind not in "biuf" or value not in (0, 1):
            raise ValueError(f"env action {key!r} must be a single 0 or 1; got {value!r}")
        if value == 1:
            pressed.add(key)
    camera = np.asarray(env_action.get("camera", (0.0, 0.0)))
    if camera.shape != (2,) or camera.dtype.kind not in "iuf" or not np.isfinite(camera).all():
        raise ValueError(
            f"env action 'camera' must be 2 finite numbers [pitch, yaw] in degrees; got {env_action.get('camera')!r}"
        )
    return pressed, camera.astype(np.float64)


def env_action_to_json_step(
    env_action: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
    *,
    gui_open: bool = False,
    mouse_xy: tuple[float, float] = (640.0, 360.0),
    tick: int = 0,
) -> dict[str, Any]:
    """One MineRL env action -> a contractor jsonl step (the inverse of :class:`StepConverter`).

    The step reads back into the same env action: pressed keys become their Minecraft key names, attack /
    use / pickItem mouse buttons 0 / 1 / 2, the camera ``[pitch, yaw]`` becomes ``dy, dx`` in (float) mouse
    pixels, and ``hotbar`` is the selected slot after this step's hotbar presses (the highest pressed
    ``hotbar.N`` wins, as in the joint action mapping). ``newKeys`` / ``newButtons`` hold what is pressed
    now and was not in ``previous`` (the previous step written), ``yaw`` / ``pitch`` integrate the camera.

    Exact camera: ``dx * 0.15`` cannot give back every float exactly (multiplying by 0.15 skips some
    doubles), so the step also stores the camera in degrees under :data:`CAMERA_FIELD`, an extension field
    that other contractor readers ignore and that :class:`StepConverter` uses when present.

    Stuck-attack rule: a first step (``previous is None``) whose only new mouse button is attack would be
    read as "attack stuck" and dropped, so the first step lists its buttons as held, not new
    (``newButtons: []``).

    :param env_action: unbatched MineRL env action (missing keys are unpressed).
    :param previous: the step written before this one, or None for the first step.
    :param gui_open: whether a GUI is open (the reader then draws the cursor at ``mouse_xy``).
    :param mouse_xy: mouse position in 720p pixels.
    :param tick: the step's index.
    :raises ValueError: on an unknown key, a value other than 0/1, or a bad camera.
    """
    pressed, camera = _env_action_fields(env_action)
    keys = [key for minerl, key in _MINERL_TO_KEYBOARD.items() if minerl in pressed]
    buttons = [button for minerl, button in _MINERL_TO_MOUSE.items() if minerl in pressed]
    hotbar = previous["hotbar"] if previous is not None else 0
    for i in range(1, 10):
        if f"hotbar.{i}" in pressed:
            hotbar = i - 1
    prev_keys = set(previous["keyboard"]["keys"]) if previous is not None else set()
    prev_buttons = set(previous["mouse"]["buttons"]) if previous is not None else set()
    yaw = (previous["yaw"] if previous is not None else 0.0) + float(camera[1])
    pitch = float(np.clip((previous["pitch"] if previous is not None else 0.0) + float(camera[0]), -90.0, 90.0))
    x, y = (float(v) for v in mouse_xy)
    return {
        "mouse": {
            "x": x, "y": y,
            "dx": float(camera[1]) / CAMERA_SCALER, "dy": float(camera[0]) / CAMERA_SCALER,
            "scaledX": x - 640.0, "scaledY": y - 360.0, "dwheel": 0.0,
            "buttons": buttons,
            "newButtons": [b for b in buttons if b not in prev_buttons] if previous is not None else [],
        },
        "keyboard": {"keys": keys, "newKeys": [k for k in keys if k not in prev_keys], "chars": ""},
        "isGuiOpen": bool(gui_open),
        "isGuiInventory": bool(gui_open),
        "hotbar": hotbar,
        "yaw": yaw, "pitch": pitch, "xpos": 0.0, "ypos": 0.0, "zpos": 0.0,
        "tick": tick, "milli": tick * 50, "inventory": [],
        "serverTick": tick, "serverTickDurationMs": 50.0, "stats": {},
        CAMERA_FIELD: [float(camera[0]), float(camera[1])],
    }  # fmt: skip


def write_jsonl(
    path: str | os.PathLike,
    env_actions: Iterable[Mapping[str, Any]],
    gui: Sequence[Any] | None = None,
    action_codec: str = "minecraft",
    durable: bool = False,
) -> int:
    """Write env actions as a contractor jsonl file atomically (:func:`vpt_gym.atomic_file.write_atomic`).

    :param path: the ``.jsonl`` to write.
    :param env_actions: unbatched MineRL env actions, one per frame.
    :param gui: optional per-step ``None`` (GUI closed) or ``(mouse_x, mouse_y)`` (GUI open, 720p pixels).
    :param action_codec: how actions are written (:mod:`agents.vpt.action_codecs`): ``"minecraft"`` (MineRL
        env actions) or ``"crafter"`` (``{"action": index}``).
    :param durable: fsync the file and its directory (for outputs a resumed job skips because they exist).
    :return: the number of lines written.
    """
    from agents.vpt.action_codecs import get_codec

    encode = get_codec(action_codec).encode
    count = 0

    def write(tmp: Path) -> None:
        nonlocal count
        previous = None
        with open(tmp, "w", encoding="utf-8") as file:
            for t, action in enumerate(env_actions):
                at = gui[t] if gui is not None else None
                previous = encode(
                    action, previous, gui_open=at is not None, mouse_xy=at if at is not None else (640.0, 360.0),
                    tick=t,
                )
                file.write(json.dumps(previous, separators=(",", ":")) + "\n")
                count += 1

    write_atomic(path, write, durable=durable)
    return count


class ContractorWriter:
    """Write frames and env actions as a contractor pair ``<stem>.mp4`` + ``<stem>.jsonl``.

    Frames are RGB uint8 ``(H, W, 3)`` of one size, encoded with OpenCV's ``mp4v`` codec (lossy: frames
    read back close to, not equal to, what was written); actions go through
    :func:`env_action_to_json_step`, so :func:`read_pair` returns the same env actions. Both files are
    written under hidden temporary names and renamed into place on :meth:`close`, so a crash never leaves
    a half-written pair that looks complete. Used for synthetic data, pseudo-labels and converted
    demonstrations alike.

    :param stem: output path without suffix (``data/run1`` -> ``data/run1.mp4`` and ``data/run1.jsonl``).
    :param fps: video frame rate (VPT data: 20).
    :param action_codec: how actions are written (:mod:`agents.vpt.action_codecs`): ``"minecraft"`` (MineRL
        env actions) or ``"crafter"`` (``{"action": index}``).

    Example::

        with ContractorWriter("data/run1") as writer:
            writer.write(frame, {"forward": 1, "camera": [0.0, 1.5]})
    """

    def __init__(self, stem: str | os.PathLike, fps: float = 20.0, action_codec: str = "minecraft") -> None:
        from agents.vpt.action_codecs import get_codec

        self._encode = get_codec(action_codec).encode
        stem = Path(stem)
        self.video_path = stem.with_name(stem.name + ".mp4")
        self.jsonl_path = stem.with_name(stem.name + ".jsonl")
        self.fps = fps
        self._video_tmp = temporary_path(self.video_path)  # same suffix: cv2 picks the container from it
        self._jsonl_tmp = temporary_path(self.jsonl_path)
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._jsonl = open(self._jsonl_tmp, "w", encoding="utf-8")
        self._previous: dict[str, Any] | None = None
        self.n_frames = 0

    def write(
        self, frame: np.ndarray, env_action: Mapping[str, Any], gui_mouse_xy: tuple[float, float] | None = None
    ) -> None:
        """Append one frame and the action taken at it.

        :param frame: (H, W, 3) uint8 RGB.
        :param env_action: unbatched MineRL env action.
        :param gui_mouse_xy: ``(x, y)`` mouse position in 720p pixels if a GUI is open (the reader will draw
            the cursor there), else None.
        """
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB; got shape {frame.shape}, dtype {frame.dtype}")
        step = self._encode(
            env_action, self._previous, gui_open=gui_mouse_xy is not None,
            mouse_xy=gui_mouse_xy if gui_mouse_xy is not None else (640.0, 360.0), tick=self.n_frames,
        )  # fmt: skip
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self._video_tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
            if not self._writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write an mp4v video to {self._video_tmp}")
            self._size = size
        elif size != self._size:
            raise ValueError(f"all frames must have the same size; first was {self._size} (W, H), got {size}")
        self._writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
        self._jsonl.write(json.dumps(step, separators=(",", ":")) + "\n")
        self._previous = step
        self.n_frames += 1

    def close(self) -> None:
        """Finish both files and move them into place (an empty pair when no frame was written)."""
        if self._jsonl.closed:
            return
        if self._writer is None:
            self.abort()
            raise ValueError(f"no frames were written to {self.video_path}; a contractor pair needs at least one")
        self._jsonl.close()
        self._writer.release()
        commit(self._video_tmp, self.video_path)
        commit(self._jsonl_tmp, self.jsonl_path)

    def abort(self) -> None:
        """Discard the temporary files (nothing is moved into place)."""
        if not self._jsonl.closed:
            self._jsonl.close()
        if self._writer is not None:
            self._writer.release()
        for tmp in (self._video_tmp, self._jsonl_tmp):
            if tmp.exists():
                tmp.unlink()

    def __enter__(self) -> "ContractorWriter":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

"""Pseudo-labelling videos with an inverse dynamics model, as VPT does (spec vpt.md 5.3).

The IDM is non-causal over a window of 128 frames. A video of any length is cut into windows of
``window`` frames every ``stride`` frames (128 and 64; the stride defaults to ``window // 2``), and each frame takes its label from the window
in which it is the most central, so every frame gets exactly one label: frames 32..95 of every interior
window, plus the first frames from the first window and the last frames from the last one
(:func:`label_assignment`). The last window is aligned to the end of the video (its start is
``n - window``), so every prediction sees a full window of context; a video shorter than one window is
labelled in one shorter window.

The labeller is any callable ``frames (T, 128, 128, 3) uint8 RGB -> labels for those T frames``, in one
of three forms: an integer array ``(T, 2)`` of agent actions ``[button class, camera class]``; a batched
MineRL env action dict (``(T,)`` button arrays, ``(T, 2)`` camera in degrees; what an IDM's 20 binary
buttons and camera bins give after :meth:`vpt_gym.actions.CameraQuantizer.undiscretize`); or a sequence
of T env action dicts. Labels are written in the contractor jsonl format
(:func:`agents.vpt.contractor.write_jsonl`), so a labelled video is a contractor pair that feeds BC.
Labels of another game are written with its action codec (``action_codec="crafter"``: the labeller
returns one ``{"action": index}`` dict per frame, as a Crafter :class:`agents.vpt.idm_training.IDMLabeller` does).

:func:`label_directory` labels every video of a directory: resumable (a video whose label file exists
is skipped: label files are written atomically, so one that exists is complete), one video's failure is
reported and never stops the job, a progress bar counts videos and frames. ``backend="ray"`` runs one Ray
task per video (``pip install -e ".[ray]"`` in the vpt-gym checkout); a task whose worker process dies (killed, out of memory)
is retried on another worker (``max_retries``, 3 by default), and one that still fails is reported like a
bad video. ``backend="local"`` needs nothing more.

Example::

    >>> import numpy as np
    >>> from agents.vpt.labelling import label_assignment, label_frames
    >>> [tuple(w) for w in label_assignment(300)]
    [(0, 0, 96), (64, 96, 160), (128, 160, 214), (172, 214, 300)]
    >>> labels = label_frames([np.zeros((300, 8, 8, 3), np.uint8)], lambda f: np.zeros((len(f), 2), np.int64))
    >>> len(labels), int(labels[0]["forward"])
    (300, 0)
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from agents.vpt.contractor import ContractorFormatError, count_video_frames, iter_video_chunks, write_jsonl
from vpt_gym.actions import agent_to_env
from vpt_gym.optional import import_optional

__all__ = [
    "WindowAssignment",
    "Labeller",
    "label_assignment",
    "default_stride",
    "labels_to_env_actions",
    "label_frames",
    "label_video",
    "LabelReport",
    "label_directory",
    "label_path_for",
    "RAY_MAX_RETRIES",
]

#: How often a Ray task whose worker process died is run again (Ray's ``max_retries``).
RAY_MAX_RETRIES = 3

#: ``frames (T, R, R, 3) uint8 -> labels of the T frames`` (see the module docstring for the forms).
Labeller = Callable[[np.ndarray], Any]


class WindowAssignment(NamedTuple):
    """One labelling window: it covers frames ``[start, start + window)`` (cut at the video's end) and its
    labels are kept for frames ``[keep_from, keep_to)``."""

    start: int
    keep_from: int
    keep_to: int


def default_stride(window: int, stride: int | None = None) -> int:
    """``stride`` if given, else half the window (VPT's 64 for its 128-frame windows; at least 1)."""
    if stride is not None:
        return stride
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive integer; got {window!r}")
    return max(1, int(window) // 2)


def _check_sizes(window: int, stride: int) -> None:
    for name, value in (("window", window), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if stride > window:
        raise ValueError(f"stride ({stride}) must not exceed window ({window}), or frames would go unlabelled")


def label_assignment(n_frames: int, window: int = 128, stride: int | None = None) -> list[WindowAssignment]:
    """Which window labels which frames, for a video of ``n_frames`` frames.

    Windows start at ``0, stride, 2*stride, ...`` while they end before the video does, plus a last window
    ending at the last frame (start ``n_frames - window``). Each frame is labelled by the window whose
    centre is nearest to it (on a tie, the earlier window), so every frame is labelled exactly once and
    interior windows keep ``[start + (window - stride) // 2, start + (window + stride) // 2)`` (32..95
    for VPT's 128/64). A video of at most ``window`` frames is one window.

    :param n_frames: number of frames (0 gives no windows).
    :param window: frames per IDM window.
    :param stride: frames between window starts (``<= window``; default ``window // 2``).
    :return: the windows in order, their keep ranges tiling ``[0, n_frames)``.
    """
    stride = default_stride(window, stride)
    _check_sizes(window, stride)
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 0:
        raise ValueError(f"n_frames must be a non-negative integer; got {n_frames!r}")
    n_frames, window, stride = int(n_frames), int(window), int(stride)
    if n_frames == 0:
        return []
    if n_frames <= window:
        return [WindowAssignment(0, 0, n_frames)]
    starts = list(range(0, n_frames - window, stride)) + [n_frames - window]
    plan, keep_from = [], 0
    for here, following in zip(starts, starts[1:]):
        # frame f stays with `here` iff f - centre(here) <= centre(following) - f, centres at s + (window-1)/2
        keep_to = (here + following + window - 1) // 2 + 1
        plan.append(WindowAssignment(here, keep_from, keep_to))
        keep_from = keep_to
    plan.append(WindowAssignment(starts[-1], keep_from, n_frames))
    return plan


def labels_to_env_actions(labels: Any, n_frames: int) -> list[dict[str, Any]]:
    """A labeller's output for ``n_frames`` frames -> one unbatched MineRL env action dict per frame.

    :param labels: agent actions ``(T, 2)`` (integers), a batched env action dict, or T env action dicts.
    :raises ValueError: when the output has another length or form (the message says what came back).
    """
    if isinstance(labels, Mapping):
        lengths = {key: np.shape(value)[0] if np.ndim(value) else None for key, value in labels.items()}
        if any(length != n_frames for length in lengths.values()):
            raise ValueError(
                f"the labeller returned a batched env action whose leading sizes are {lengths}; expected "
                f"{n_frames} (one per frame)"
            )
        arrays = {key: np.asarray(value) for key, value in labels.items()}
        return [{key: value[t] for key, value in arrays.items()} for t in range(n_frames)]
    if isinstance(labels, Sequence) and not isinstance(labels, (str, bytes)) and labels and isinstance(
        labels[0], Mapping
    ):
        if len(labels) != n_frames or not all(isinstance(label, Mapping) for label in labels):
            raise ValueError(
                f"the labeller returned {len(labels)} items; expected {n_frames} env action dicts (one per frame)"
            )
        return [dict(label) for label in labels]
    array = np.asarray(labels)
    if array.shape != (n_frames, 2) or array.dtype.kind not in "iu":
        raise ValueError(
            f"the labeller must return agent actions of shape ({n_frames}, 2) with integer dtype, a batched "
            f"env action dict or {n_frames} env action dicts; got an array of shape {array.shape}, dtype "
            f"{array.dtype}"
        )
    batched = agent_to_env(array)
    return [{key: value[t] for key, value in batched.items()} for t in range(n_frames)]


def label_frames(
    chunks: Iterable[np.ndarray], labeller: Labeller, window: int = 128, stride: int | None = None
) -> list[dict[str, Any]]:
    """Label a stream of frame chunks, holding at most ``window + stride`` frames at a time.

    A window is run as soon as the stream shows it is not the last one (a frame after its end has
    arrived); the last window (the final ``window`` frames) runs at the end, when the length is known.

    :param chunks: arrays ``(n, R, R, 3)`` uint8 of consecutive frames (e.g. from
        :func:`agents.vpt.contractor.iter_video_chunks`).
    :param labeller: see :data:`Labeller`; it is called once per window of :func:`label_assignment`.
    :param window: frames per window.
    :param stride: frames between window starts (default ``window // 2``).
    :return: one env action dict per frame.
    """
    stride = default_stride(window, stride)
    _check_sizes(window, stride)
    buffer: list[np.ndarray] = []  # frames offset .. offset + len(buffer) - 1
    offset = n = next_start = 0
    predictions: dict[int, list[dict[str, Any]]] = {}

    def run(start: int, stop: int) -> None:
        frames = np.stack(buffer[start - offset : stop - offset])
        predictions[start] = labels_to_env_actions(labeller(frames), len(frames))

    for chunk in chunks:
        for frame in chunk:
            buffer.append(frame)
            n += 1
            if n > next_start + window:  # a frame after this window exists: it is a regular window
                run(next_start, next_start + window)
                next_start += stride
                drop = min(next_start, n - window) - offset  # keep the next window and the last `window` frames
                if drop > 0:
                    del buffer[:drop]
                    offset += drop
    plan = label_assignment(n, window, stride)
    if plan and plan[-1].start not in predictions:
        run(plan[-1].start, min(plan[-1].start + window, n))
    labels: list[dict[str, Any]] = []
    for assignment in plan:
        kept = predictions[assignment.start]
        labels.extend(kept[assignment.keep_from - assignment.start : assignment.keep_to - assignment.start])
    assert len(labels) == n, (len(labels), n)
    return labels


def label_video(
    video: str | os.PathLike,
    labeller: Labeller,
    out_jsonl: str | os.PathLike,
    *,
    window: int = 128,
    stride: int | None = None,
    resolution: int = 128,
    chunk_size: int = 64,
    action_codec: str = "minecraft",
) -> int:
    """Label one video and write its contractor jsonl atomically and durably (``write_atomic``).

    Frames are read with OpenCV (BGR -> RGB, resized with INTER_LINEAR, as for contractor data).

    :param video: the video file.
    :param labeller: see :data:`Labeller`.
    :param out_jsonl: the label file to write.
    :param window: frames per window.
    :param stride: frames between window starts (default ``window // 2``).
    :param resolution: side of the frames given to the labeller.
    :param chunk_size: frames decoded at a time.
    :param action_codec: how the labels are written (:mod:`agents.vpt.action_codecs`).
    :return: the number of frames labelled.
    :raises ContractorFormatError: if the video cannot be read, is empty, or ends before its header says.
    """
    labels = label_frames(iter_video_chunks(video, chunk_size, resolution), labeller, window, stride)
    if not labels:
        raise ContractorFormatError(f"{video}: the video has no readable frames")
    expected = count_video_frames(video)
    if expected > 0 and expected != len(labels):
        raise ContractorFormatError(
            f"{video}: only {len(labels)} of the {expected} frames in the video's header could be read "
            "(truncated or corrupt video); no labels written"
        )
    Path(out_jsonl).parent.mkdir(parents=True, exist_ok=True)
    return write_jsonl(out_jsonl, labels, action_codec=action_codec, durable=True)


def label_path_for(video: Path, video_root: Path, out_root: Path) -> Path:
    """The label file of ``video``: same relative path under ``out_root``, suffix ``.jsonl``."""
    return (out_root / video.relative_to(video_root)).with_suffix(".jsonl")


@dataclass
class LabelReport:
    """What :func:`label_directory` did.

    :param labelled: (video, number of frames) for each video labelled now.
    :param skipped: videos whose label file already existed.
    :param failed: (video, reason) for each video that could not be labelled.
    """

    labelled: list[tuple[Path, int]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        """Frames labelled now."""
        return sum(n for _, n in self.labelled)


def _label_one(video: str, out: str, labeller: Labeller, kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """Label one video; ``(True, n_frames)`` or ``(False, reason)`` (never raises: one task per video)."""
    try:
        return True, label_video(video, labeller, out, **kwargs)
    except Exception as err:  # noqa: BLE001 - a failing video is reported, the job goes on
        return False, str(err) if isinstance(err, ContractorFormatError) else f"{type(err).__name__}: {err}"


def label_directory(
    video_root: str | os.PathLike,
    labeller: Labeller,
    out_root: str | os.PathLike | None = None,
    *,
    window: int = 128,
    stride: int | None = None,
    resolution: int = 128,
    chunk_size: int = 64,
    overwrite: bool = False,
    recursive: bool = True,
    backend: str = "local",
    ray_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    action_codec: str = "minecraft",
) -> LabelReport:
    """Pseudo-label every ``.mp4`` under ``video_root`` (hidden files ignored).

    :param video_root: directory of videos.
    :param labeller: see :data:`Labeller`; with Ray it is shipped to the workers once (``ray.put``), so
        it must be picklable (a torch module is).
    :param out_root: where label files go (same relative paths, ``.jsonl``); default ``video_root``, so
        every video and its labels form a contractor pair.
    :param window: frames per window.
    :param stride: frames between window starts (default ``window // 2``).
    :param resolution: side of the frames given to the labeller.
    :param chunk_size: frames decoded at a time.
    :param overwrite: relabel videos whose label file exists (default: skip them; resuming a job).
    :param recursive: include sub-directories.
    :param backend: ``"local"`` (one process, videos in order) or ``"ray"`` (one task per video on the
        current Ray cluster; ``ray.init()`` is called if Ray is not initialised).
    :param ray_options: options of each Ray task (e.g. ``{"num_gpus": 1, "num_cpus": 4}``); ``max_retries``
        (default :data:`RAY_MAX_RETRIES`) is how often a task whose worker died is run again.
    :param progress: show a progress bar.
    :param action_codec: how the labels are written (:mod:`agents.vpt.action_codecs`; ``"crafter"`` for a
        Crafter IDM's labels).
    :return: a :class:`LabelReport`.
    """
    from tqdm.auto import tqdm

    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray'; got {backend!r}")
    from agents.vpt.action_codecs import get_codec

    get_codec(action_codec)  # an unknown codec is the caller's error, not one failure per video
    stride = default_stride(window, stride)
    _check_sizes(window, stride)
    video_root = Path(video_root)
    if not video_root.is_dir():
        raise FileNotFoundError(f"video directory {str(video_root)!r} does not exist")
    out_root = Path(out_root) if out_root is not None else video_root
    videos = sorted(
        path
        for path in (video_root.rglob("*.mp4") if recursive else video_root.glob("*.mp4"))
        if not any(part.startswith(".") for part in path.relative_to(video_root).parts)
    )
    if not videos:
        where = "under" if recursive else "in"
        raise FileNotFoundError(f"no .mp4 videos {where} {str(video_root)!r}: nothing to label")
    report = LabelReport()
    todo: list[tuple[Path, Path]] = []
    for video in videos:
        out = label_path_for(video, video_root, out_root)
        if out.exists() and not overwrite:
            report.skipped.append(video)
        else:
            todo.append((video, out))
    kwargs = {"window": window, "stride": stride, "resolution": resolution, "chunk_size": chunk_size,
              "action_codec": action_codec}  # fmt: skip
    bar = tqdm(total=len(todo), unit="video", desc="labelling", disable=not progress)

    def record(video: Path, result: tuple[bool, Any]) -> None:
        ok, value = result
        (report.labelled.append((video, value)) if ok else report.failed.append((video, value)))
        bar.update(1)
        bar.set_postfix(frames=report.n_frames, failed=len(report.failed))

    try:
        if backend == "local":
            for video, out in todo:
                record(video, _label_one(str(video), str(out), labeller, kwargs))
        elif todo:
            ray = import_optional("ray", "ray")
            if not ray.is_initialized():
                ray.init()
            task = ray.remote(_label_one).options(**{"max_retries": RAY_MAX_RETRIES, **dict(ray_options or {})})
            labeller_ref = ray.put(labeller)
            pending = {task.remote(str(video), str(out), labeller_ref, kwargs): video for video, out in todo}
            waiting = list(pending)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    try:
                        result = ray.get(ref)
                    except Exception as err:  # noqa: BLE001 - a lost worker fails one video, not the job
                        result = (False, f"ray task failed: {type(err).__name__}: {err}")
                    record(pending[ref], result)
    finally:
        bar.close()
    return report

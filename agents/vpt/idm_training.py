"""Training the VPT inverse dynamics model (IDM) on contractor-format data, evaluating it, and using it
as a pseudo-labeller (spec vpt.md 5.1 and 5.3; OpenAI released no IDM training code, this follows the spec).

**Data.** Every pair is read with :func:`agents.vpt.contractor.read_pair` with ``drop_null="none"``: the
IDM sees contiguous video (dropping null frames would fake motion between the frames left). Each video
is cut into non-overlapping windows of ``window`` frames (128 in VPT) starting at a random offset
``o`` in ``[0, window)`` drawn per video and epoch (``o``, ``o + window``, ...; ``random_offsets=False``
gives ``o = 0``); when frames remain at the end, one more window is aligned to the video's last frame
(it overlaps the one before). Videos shorter than one window are skipped
and reported. Per epoch the pair order is shuffled and windows pass through a shuffle buffer, all from
``numpy.random.default_rng([seed, epoch])``, so an epoch's batches are a deterministic function of the
seed (which is how a resumed run continues identically).

**Loss** (per frame, averaged over the frames of the batch): the 20 buttons are 20 independent binary
classifiers and pitch and yaw are two independent 11-bin classifiers (spec 5.1), so

    loss = sum_{i=1..20} -log p_i(b_i) + sum_{axis in (pitch, yaw)} -log p_axis(bin_axis)

with ``b_i`` the recorded state of button i and ``bin_axis`` the mu-law bin of the recorded camera angle
(:class:`vpt_gym.actions.CameraQuantizer`, angles beyond +-10 degrees fall in the end bins). The
log-probabilities are the IDM heads' (logits divided by the config's temperature).

**Optimisation**: AdamW, gradient-norm clipping (``max_grad_norm``), atomic checkpoints and resume
(:mod:`agents.vpt.training_run`), a tqdm bar, SB3's logger (stdout / csv / tensorboard).

**Evaluation** (:func:`evaluate_idm`) labels every held-out frame exactly once, the way pseudo-labelling
does (:func:`agents.vpt.labelling.label_frames`: windows of ``window`` frames, stride ``window // 2``,
central predictions kept), with deterministic argmax predictions, and reports:

- ``key_accuracy``: the fraction of (frame, button) pairs, over all held-out frames and the 20 buttons,
  whose predicted state (pressed / not pressed) equals the recorded one. This is our reading of the
  paper's "keypress accuracy" (90.6% for the 4x IDM on held-out contractor data). Because most buttons
  are released most of the time, it is also given for the majority baseline (``baseline_key_accuracy``:
  always predicting each button's more frequent state in the held-out data), and per button;
- ``camera_r2``: the coefficient of determination of the camera, pooled over pitch and yaw:
  ``1 - sum((pred - true)^2) / sum((true - mean_axis(true))^2)`` where ``true`` is the recorded angle
  clipped to [-10, 10] degrees (the IDM's range), ``pred`` the centre of the predicted bin, and each
  axis is centred on its own mean (the paper reports R^2 = 0.97 "for mouse movement"). Per-axis values
  are ``camera_r2_pitch`` / ``camera_r2_yaw``; R^2 is NaN when the held-out camera is constant;
- ``camera_bin_accuracy``: the fraction of (frame, axis) whose predicted bin equals the recorded bin.

**Crafter** (an IDM whose config has ``action_space="crafter"``): the same data path, windows, shuffling,
optimisation and checkpoints; the jsonl is read with the ``"crafter"`` action codec
(:mod:`agents.vpt.action_codecs`), the loss is the negative log-likelihood of the recorded action under
the 17-way head (:func:`action_nll`), the metrics are the action accuracy and its majority baseline
(:class:`ActionIDMMetrics`), and the labeller returns ``{"action": index}`` per frame.

**Labelling**: :class:`IDMLabeller` turns a trained IDM into the labeller callable of
:mod:`agents.vpt.labelling` (a batched env-action dict with all 20 predicted buttons and the camera in
degrees). ``fast=True`` runs the CNN front a few frames at a time (:func:`idm_forward_chunked`, the same
maths with a fraction of the activation memory), with the CNN in bfloat16 and channels-last (about
all of the FLOPs), bfloat16 weights for the transformer's linear layers, bfloat16 autocast for the 3D
conv and fused attention, under ``torch.inference_mode``
(``python -m benchmarks.idm_labelling_speed`` measures it against float32).

**Data-parallel runs** (``torchrun``, :mod:`agents.vpt.distributed`): the recordings are dealt to
``data_shards`` shards, each read by one process with its own shuffle buffer; every batch takes
``batch_size / data_shards`` windows from each shard and the loss is the mean over the global batch.

Example::

    >>> import tempfile
    >>> from agents.vpt.idm_training import IDMTrainingConfig, train_idm
    >>> # result = train_idm(IDMTrainingConfig(data="contractor/", out_dir=tempfile.mkdtemp(), model="tiny",
    >>> #                                      window=16, batch_size=4, max_steps=100))
    >>> # result.metrics.key_accuracy, result.metrics.camera_r2
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.vpt.config import IDM_PRESETS
from agents.vpt.contractor import ContractorFormatError, ContractorPair, read_pair, resolve_pairs
from agents.vpt.distributed import DistributedContext, deal, distributed_context, resolve_shards, shard_range
from agents.vpt.idm import IDMNetwork
from agents.vpt.labelling import label_frames
from agents.vpt.policy import check_frames
from agents.vpt.precision import bfloat16_linears, pack_convs
from agents.vpt.training_run import (
    check_training_numbers,
    build_network,
    check_resumable,
    latest_checkpoint,
    load_checkpoint,
    make_logger,
    prefetch,
    save_checkpoint,
)
from vpt_gym.actions import BUTTONS, CameraQuantizer
from vpt_gym.atomic_file import replace_directory_atomic
from vpt_gym.number_checks import check_number

__all__ = [
    "IDMTrainingConfig",
    "IDMTrainingResult",
    "IDMMetrics",
    "ActionIDMMetrics",
    "action_nll",
    "action_idm_metrics",
    "IDMWindow",
    "env_action_arrays",
    "idm_targets",
    "idm_loss",
    "iter_idm_windows",
    "shuffled_batches",
    "evaluate_idm",
    "idm_metrics",
    "build_idm",
    "idm_forward_chunked",
    "IDMLabeller",
    "train_idm",
    "split_pairs",
]

_QUANTIZER = CameraQuantizer()
#: Largest camera angle the IDM represents (degrees).
CAMERA_MAXVAL = 10.0


# --------------------------------------------------------------------------------------------------
# Targets and loss
# --------------------------------------------------------------------------------------------------


def env_action_arrays(env_actions: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Unbatched env actions -> ``(buttons (n, 20) int64 0/1 in BUTTONS order, camera (n, 2) float64 degrees)``."""
    n = len(env_actions)
    buttons = np.zeros((n, len(BUTTONS)), np.int64)
    camera = np.zeros((n, 2), np.float64)
    for t, action in enumerate(env_actions):
        for i, name in enumerate(BUTTONS):
            buttons[t, i] = int(action.get(name, 0))
        camera[t] = np.asarray(action.get("camera", (0.0, 0.0)), np.float64)
    return buttons, camera


def idm_targets(buttons: np.ndarray, camera: np.ndarray) -> dict[str, torch.Tensor]:
    """Training targets of the IDM heads.

    :param buttons: (..., 20) 0/1 button states.
    :param camera: (..., 2) camera angles in degrees [pitch, yaw].
    :return: ``{"buttons": (..., 20) int64, "camera": (..., 2) int64 bins}``.
    """
    buttons, camera = np.asarray(buttons), np.asarray(camera)
    if buttons.shape[-1:] != (len(BUTTONS),) or not np.isin(buttons, (0, 1)).all():
        raise ValueError(f"buttons must be (..., {len(BUTTONS)}) of 0/1; got shape {buttons.shape}")
    if camera.shape != buttons.shape[:-1] + (2,):
        raise ValueError(f"camera must have shape {buttons.shape[:-1] + (2,)}; got {camera.shape}")
    return {
        "buttons": torch.as_tensor(buttons, dtype=torch.int64),
        "camera": torch.as_tensor(_QUANTIZER.discretize(camera), dtype=torch.int64),
    }


def idm_loss(
    logp: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """The IDM's negative log-likelihood (module docstring), averaged over the (unmasked) frames.

    :param logp: the IDM's ``{"buttons": (B, T, 20, 2), "camera": (B, T, 2, 11)}`` log-probabilities.
    :param targets: ``{"buttons": (B, T, 20), "camera": (B, T, 2)}`` int64 (see :func:`idm_targets`).
    :param mask: (B, T) bool frames that count (default: all).
    :return: ``(loss, {"button_nll": ..., "camera_nll": ...})`` (per-frame sums, averaged over frames).
    """
    for key, n in (("buttons", 2), ("camera", logp["camera"].shape[-1])):
        target = targets[key]
        if tuple(target.shape) != tuple(logp[key].shape[:-1]):
            raise ValueError(f"{key} targets must have shape {tuple(logp[key].shape[:-1])}; got {tuple(target.shape)}")
        if target.numel() and (target.min() < 0 or target.max() >= n):
            raise ValueError(f"{key} targets must be in [0, {n}); got [{target.min().item()}, {target.max().item()}]")
    button_nll = -logp["buttons"].gather(-1, targets["buttons"].unsqueeze(-1)).squeeze(-1).sum(-1)
    camera_nll = -logp["camera"].gather(-1, targets["camera"].unsqueeze(-1)).squeeze(-1).sum(-1)
    if mask is None:
        mask = torch.ones(button_nll.shape, dtype=torch.bool, device=button_nll.device)
    weight = mask.float() / mask.float().sum().clamp(min=1.0)
    b, c = (button_nll * weight).sum(), (camera_nll * weight).sum()
    return b + c, {"button_nll": float(b.detach()), "camera_nll": float(c.detach())}


def action_nll(
    head: torch.nn.Module, logp: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """``-log p(action)`` under ``head`` (e.g. the Crafter IDM's 17-way head), averaged over the (unmasked)
    frames: the IDM loss of a network with a single discrete action head.

    :param head: the network's ``pi_head`` (its ``log_prob`` checks the range of the targets).
    :param logp: the head's log-probabilities, e.g. ``{"action": (B, T, 17)}``.
    :param targets: e.g. ``{"action": (B, T)}`` int64.
    :param mask: (B, T) bool frames that count (default: all).
    :return: ``(loss, {"action_nll": ...})``.
    """
    nll = -head.log_prob(logp, targets)
    if mask is None:
        mask = torch.ones(nll.shape, dtype=torch.bool, device=nll.device)
    loss = (nll * mask.float()).sum() / mask.float().sum().clamp(min=1.0)
    return loss, {"action_nll": float(loss.detach())}


# --------------------------------------------------------------------------------------------------
# Data: windows of contiguous frames
# --------------------------------------------------------------------------------------------------


@dataclass
class IDMWindow:
    """``window`` contiguous frames of one video and their recorded actions.

    :param name: the recording. :param start: index of the first frame.
    :param frames: (W, S, S, 3) uint8. :param buttons: (W, 20) int64. :param camera: (W, 2) float64 degrees
        (both None for a Crafter window). :param agent_actions: (W, k) int64 agent actions of the codec
        (Crafter: ``[index]``).
    """

    name: str
    start: int
    frames: np.ndarray
    buttons: np.ndarray | None
    camera: np.ndarray | None
    agent_actions: np.ndarray | None = None


def iter_idm_windows(
    pairs: Sequence[ContractorPair],
    window: int,
    resolution: int,
    problems: list[tuple[ContractorPair, str]] | None = None,
    chunk_size: int = 64,
    offsets: Sequence[int] | None = None,
    action_codec: str = "minecraft",
) -> Iterator[IDMWindow]:
    """Windows of every pair in order (see the module docstring), streaming each video once.

    :param pairs: recordings.
    :param window: frames per window.
    :param resolution: frame side.
    :param problems: collects ``(pair, reason)`` for unreadable pairs and pairs shorter than a window
        (windows read before a pair failed are still used).
    :param chunk_size: frames decoded at a time.
    :param offsets: per pair, where its first window starts (default 0); the end-aligned tail window is
        always added, so only frames before the offset are left out.
    :param action_codec: how the jsonl actions are read (:mod:`agents.vpt.action_codecs`).
    """
    if window < 1:
        raise ValueError(f"window must be >= 1; got {window}")
    if offsets is not None and len(offsets) != len(pairs):
        raise ValueError(f"need one offset per pair; got {len(offsets)} offsets for {len(pairs)} pairs")
    for k, pair in enumerate(pairs):
        frames: list[np.ndarray] = []
        actions: list[Any] = []  # env action dicts (Minecraft) or agent-action rows (other codecs)
        offset = 0  # frame index of frames[0]
        next_start = int(offsets[k]) if offsets is not None else 0
        if next_start < 0:
            raise ValueError(f"offsets must be >= 0; got {next_start}")
        n = 0
        try:
            for chunk in read_pair(
                pair, resolution=resolution, chunk_size=chunk_size, drop_null="none", action_codec=action_codec
            ):
                frames.extend(chunk.frames)
                actions.extend(chunk.env_actions if action_codec == "minecraft" else chunk.agent_actions)
                n += len(chunk)
                while n >= next_start + window:
                    yield _window(pair.name, next_start, frames, actions, offset, window)
                    next_start += window
                    # keep the next regular window's frames and the last `window` ones (a tail window)
                    drop = max(0, min(next_start, n - window) - offset)
                    del frames[:drop], actions[:drop]
                    offset += drop
        except (ContractorFormatError, OSError, ValueError) as err:
            if problems is not None:
                problems.append((pair, str(err)))
            continue
        if n < window:
            if problems is not None:
                problems.append((pair, f"{pair.video}: {n} frames, fewer than one window of {window}"))
        elif next_start < n:
            yield _window(pair.name, n - window, frames, actions, offset, window)


def _window(name: str, start: int, frames: list, actions: list, offset: int, window: int) -> IDMWindow:
    kept = actions[start - offset : start - offset + window]
    images = np.stack(frames[start - offset : start - offset + window])
    if kept and isinstance(kept[0], np.ndarray):  # agent-action rows of a non-Minecraft codec
        return IDMWindow(name, start, images, None, None, np.stack(kept).astype(np.int64))
    buttons, camera = env_action_arrays(kept)
    return IDMWindow(name, start, images, buttons, camera)


def shuffled_batches(
    items: Iterator[Any], batch_size: int, buffer_size: int, rng: np.random.Generator
) -> Iterator[list[Any]]:
    """Batches drawn at random from a buffer of up to ``buffer_size`` items (the last batch may be smaller)."""
    if batch_size < 1 or buffer_size < batch_size:
        raise ValueError(f"need 1 <= batch_size ({batch_size}) <= buffer_size ({buffer_size})")
    buffer: list[Any] = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= buffer_size:
            picks = sorted(rng.choice(len(buffer), batch_size, replace=False).tolist(), reverse=True)
            yield [buffer.pop(i) for i in picks]
    order = rng.permutation(len(buffer)).tolist()
    rest = [buffer[i] for i in order]
    for i in range(0, len(rest), batch_size):
        yield rest[i : i + batch_size]


def split_pairs(
    pairs: Sequence[ContractorPair], val_fraction: float, seed: int
) -> tuple[list[ContractorPair], list[ContractorPair]]:
    """Hold out ``round(val_fraction * n)`` whole recordings (at least one when the fraction is > 0 and
    there are two or more), chosen with ``seed``. :return: ``(train, val)``."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}")
    pairs = list(pairs)
    n_val = int(round(val_fraction * len(pairs)))
    if val_fraction > 0 and len(pairs) >= 2:
        n_val = max(1, n_val)
    n_val = min(n_val, len(pairs) - 1) if pairs else 0
    picked = set(np.random.default_rng(seed).permutation(len(pairs))[:n_val].tolist())
    return [p for i, p in enumerate(pairs) if i not in picked], [p for i, p in enumerate(pairs) if i in picked]


# --------------------------------------------------------------------------------------------------
# Inference: chunked forward and the labeller
# --------------------------------------------------------------------------------------------------


def idm_forward_chunked(idm: IDMNetwork, obs: torch.Tensor, frames_per_chunk: int = 16) -> dict[str, torch.Tensor]:
    """The IDM's forward pass with the per-frame front (3D conv + CNN) run ``frames_per_chunk`` frames at a
    time: same maths as ``idm(obs)``, with the large CNN activations of a few frames alive at once
    instead of all ``T``. Each chunk's 3D conv reads its ``kernel // 2`` neighbour frames on both sides
    (zeros beyond the window, exactly as the full conv's padding).

    :param idm: the network.
    :param obs: (B, T, S, S, 3) uint8.
    :param frames_per_chunk: frames per CNN call.
    :return: the heads' log-probabilities, as :meth:`IDMNetwork.forward`.
    """
    cfg = idm.config
    check_frames(obs, cfg.img_size)
    if frames_per_chunk < 1:
        raise ValueError(f"frames_per_chunk must be >= 1; got {frames_per_chunk}")
    net = idm.net
    b, t = obs.shape[:2]
    halo = cfg.conv3d_kernel // 2
    features = []
    for a in range(0, t, frames_per_chunk):
        z = min(a + frames_per_chunk, t)
        lo, hi = max(a - halo, 0), min(z + halo, t)
        x = obs[:, lo:hi].permute(0, 4, 1, 2, 3).float() / 255.0
        x = torch.cat([net.conv3d_layer(x[i : i + 1]) for i in range(b)])[:, :, a - lo : z - lo]
        x = x.permute(0, 2, 3, 4, 1).reshape(b * (z - a), cfg.img_size, cfg.img_size, cfg.conv3d_out)
        features.append(net.img_process(x.permute(0, 3, 1, 2)).reshape(b, z - a, -1).float())
    x = torch.cat(features, dim=1)
    first = torch.zeros(b, t, dtype=torch.bool, device=obs.device)
    x, _ = net.recurrent_layer(x, first, net.recurrent_layer.initial_state(b, obs.device))
    latent = net.final_ln(torch.relu(x).float())
    return idm.pi_head(latent)


class IDMLabeller:
    """An IDM as the labeller callable of :mod:`agents.vpt.labelling`.

    Called on a window ``(T, S, S, 3)`` uint8 RGB, it returns a batched MineRL env action dict: the 20
    :data:`vpt_gym.actions.BUTTONS` as ``(T,)`` int64 0/1 (argmax of each binary head, so all 20 predicted
    buttons are kept) and ``"camera"`` ``(T, 2)`` float64 degrees (centres of the argmax bins).

    :param idm: a trained :class:`IDMNetwork`, or a checkpoint path / released name for
        :func:`agents.vpt.io.from_pretrained`.
    :param device: where to run it.
    :param fast: chunked CNN front, the CNN in bfloat16 and channels-last, bfloat16 weights for the
        transformer's linear layers (float32 in/out), bfloat16 autocast for the 3D conv, fused attention
        (see the module docstring); labels equal the float32 ones except where two classes are nearly
        tied. The network is converted in place.
    :param frames_per_chunk: frames per CNN call in fast mode.
    :param fast_dtype: ``"bfloat16"`` (the fast mode above) or ``"float32"``: the fast mode's chunking,
        channels-last and fused attention with every layer float32 and the CNN's convolutions prepacked by
        oneDNN (:func:`~agents.vpt.precision.pack_convs`): float32 labels up to last-bit differences.
        Measured on the 4x IDM (``python -m benchmarks.idm_labelling_speed``, random weights, one 128-frame
        window, shared 2-core machine): float32 45 s / 7.1 GB peak; ``"bfloat16"`` 17 s / 2.2 GB, 99.2% of
        labels equal to float32 (all of those whose top-two log-probs differ by more than 0.05);
        ``"float32"`` 46 s / 3.2 GB, every label equal (the CNN's float32 convolutions are compute-bound:
        no faster, only the memory halves). Random weights give flat outputs with many near-ties; on a
        trained IDM (the Crafter IDM on its real video, ``python -m benchmarks.idm_label_agreement``: 0.51%
        near-ties) ``"bfloat16"`` labels equal float32's on 99.78% of decisions at 2.1x the speed, and
        ``"float32"`` on all of them at 1.6x (that small IDM's 64x64 frames gain from the chunking).

    Example::

        >>> import numpy as np
        >>> from agents.vpt.idm import IDMNetwork
        >>> labels = IDMLabeller(IDMNetwork("tiny"))(np.zeros((8, 32, 32, 3), np.uint8))
        >>> labels["attack"].shape, labels["camera"].shape
        ((8,), (8, 2))
    """

    def __init__(
        self, idm: IDMNetwork | str | os.PathLike, device: str | torch.device = "cpu", fast: bool = False,
        frames_per_chunk: int = 16, fast_dtype: str = "bfloat16",
    ) -> None:  # fmt: skip
        if fast_dtype not in ("bfloat16", "float32"):
            raise ValueError(f"fast_dtype must be 'bfloat16' or 'float32'; got {fast_dtype!r}")
        if not isinstance(idm, IDMNetwork):
            from agents.vpt.io import from_pretrained

            loaded = from_pretrained(str(idm), device=device)
            if not isinstance(loaded, IDMNetwork):
                raise ValueError(f"{idm!r} holds a {type(loaded).__name__}, not an IDM")
            idm = loaded
        self.idm = idm.to(device).eval()
        self.device = torch.device(device)
        self.fast = fast
        self.frames_per_chunk = frames_per_chunk
        self.fast_dtype = fast_dtype
        if fast:
            encoder = self.idm.net.img_process  # the CNN: almost all of the FLOPs
            encoder.channels_last = True
            if fast_dtype == "bfloat16":
                encoder.to(torch.bfloat16)
                bfloat16_linears([self.idm.net.recurrent_layer])
            else:
                encoder.to(memory_format=torch.channels_last)
                pack_convs(encoder)
            self.idm.net.recurrent_layer.set_fused_attention(True)

    @property
    def resolution(self) -> int:
        """Side of the frames the IDM expects."""
        return self.idm.config.img_size

    def logp(self, frames: np.ndarray) -> dict[str, torch.Tensor]:
        """Log-probabilities ``{"buttons": (T, 20, 2), "camera": (T, 2, 11)}`` of one window (float32)."""
        frames = np.asarray(frames)
        s = self.resolution
        if frames.ndim != 4 or frames.shape[1:] != (s, s, 3) or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, {s}, {s}, 3) uint8 RGB; got shape {frames.shape}, dtype {frames.dtype}")
        obs = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)[None]
        with torch.inference_mode():
            if self.fast and self.fast_dtype == "float32":
                logp = idm_forward_chunked(self.idm, obs, self.frames_per_chunk)
            elif self.fast:
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    logp = idm_forward_chunked(self.idm, obs, self.frames_per_chunk)
            else:
                logp = self.idm(obs)
        return {k: v[0].float() for k, v in logp.items()}

    @property
    def action_codec(self) -> str:
        """The action codec of the labels (the IDM's ``action_space``), for writing them."""
        return self.idm.config.action_space

    def __call__(self, frames: np.ndarray) -> dict[str, np.ndarray] | list[dict[str, int]]:
        logp = self.logp(frames)
        if "action" in logp:  # a single discrete head (Crafter): one {"action": index} per frame
            return [{"action": int(a)} for a in logp["action"].argmax(-1).cpu().tolist()]
        buttons = logp["buttons"].argmax(-1).cpu().numpy().astype(np.int64)
        bins = logp["camera"].argmax(-1).cpu().numpy()
        action: dict[str, np.ndarray] = {name: buttons[:, i] for i, name in enumerate(BUTTONS)}
        action["camera"] = _QUANTIZER.undiscretize(bins)
        return action


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


@dataclass
class ActionIDMMetrics:
    """Held-out metrics of an IDM with one discrete action head (Crafter).

    :param action_accuracy: fraction of frames whose predicted action is the recorded one.
    :param baseline_accuracy: the same for always predicting the most frequent recorded action.
    :param per_action_accuracy: ``{action index: accuracy on the frames where it was recorded}``.
    :param n_frames: frames evaluated.
    """

    action_accuracy: float
    baseline_accuracy: float
    per_action_accuracy: dict[int, float]
    n_frames: int

    def summary(self) -> dict[str, float]:
        """The scalar metrics (for logging)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if not isinstance(v, dict)}


def action_idm_metrics(predicted: np.ndarray, recorded: np.ndarray) -> ActionIDMMetrics:
    """Metrics of predicted vs recorded action indices, both ``(n,)`` integers."""
    predicted, recorded = np.asarray(predicted).reshape(-1), np.asarray(recorded).reshape(-1)
    if len(recorded) == 0:
        raise ValueError("no held-out frames to evaluate")
    if predicted.shape != recorded.shape:
        raise ValueError(f"predicted actions {predicted.shape} and recorded actions {recorded.shape} differ in shape")
    values, counts = np.unique(recorded, return_counts=True)
    correct = predicted == recorded
    return ActionIDMMetrics(
        action_accuracy=float(correct.mean()),
        baseline_accuracy=float(counts.max() / len(recorded)),
        per_action_accuracy={int(v): float(correct[recorded == v].mean()) for v in values},
        n_frames=len(recorded),
    )


@dataclass
class IDMMetrics:
    """Held-out IDM metrics (definitions in the module docstring).

    :param key_accuracy: fraction of correct (frame, button) states.
    :param baseline_key_accuracy: the same for the per-button majority guess.
    :param per_button_accuracy: ``{button: accuracy}``.
    :param frame_key_accuracy: fraction of frames with all 20 buttons right.
    :param camera_r2: pooled R^2 of the camera in degrees. :param camera_r2_pitch: pitch only.
    :param camera_r2_yaw: yaw only. :param camera_bin_accuracy: fraction of correct (frame, axis) bins.
    :param n_frames: frames evaluated.
    """

    key_accuracy: float
    baseline_key_accuracy: float
    per_button_accuracy: dict[str, float]
    frame_key_accuracy: float
    camera_r2: float
    camera_r2_pitch: float
    camera_r2_yaw: float
    camera_bin_accuracy: float
    n_frames: int

    def summary(self) -> dict[str, float]:
        """The scalar metrics (for logging)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if not isinstance(v, dict)}


def _r2(pred: np.ndarray, true: np.ndarray) -> float:
    sst = float(((true - true.mean(axis=0)) ** 2).sum())
    return float("nan") if sst == 0.0 else 1.0 - float(((pred - true) ** 2).sum()) / sst


def idm_metrics(
    pred_buttons: np.ndarray, pred_camera: np.ndarray, true_buttons: np.ndarray, true_camera: np.ndarray
) -> IDMMetrics:
    """Metrics from predictions and recorded actions, all over the same ``n`` frames.

    :param pred_buttons: (n, 20) 0/1. :param pred_camera: (n, 2) degrees (bin centres).
    :param true_buttons: (n, 20) 0/1. :param true_camera: (n, 2) recorded degrees (clipped here to +-10).
    """
    pred_buttons, true_buttons = np.asarray(pred_buttons), np.asarray(true_buttons)
    pred_camera, true_camera = np.asarray(pred_camera, np.float64), np.asarray(true_camera, np.float64)
    n = len(true_buttons)
    if n == 0:
        raise ValueError("no held-out frames to evaluate")
    for name, a, shape in (
        ("pred_buttons", pred_buttons, (n, 20)), ("pred_camera", pred_camera, (n, 2)), ("true_camera", true_camera, (n, 2)),
    ):  # fmt: skip
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape}; got {a.shape}")
    correct = pred_buttons == true_buttons
    majority = true_buttons.mean(axis=0) > 0.5
    true_clipped = np.clip(true_camera, -CAMERA_MAXVAL, CAMERA_MAXVAL)
    return IDMMetrics(
        key_accuracy=float(correct.mean()),
        baseline_key_accuracy=float((true_buttons == majority).mean()),
        per_button_accuracy={name: float(correct[:, i].mean()) for i, name in enumerate(BUTTONS)},
        frame_key_accuracy=float(correct.all(axis=1).mean()),
        camera_r2=_r2(pred_camera, true_clipped),
        camera_r2_pitch=_r2(pred_camera[:, 0], true_clipped[:, 0]),
        camera_r2_yaw=_r2(pred_camera[:, 1], true_clipped[:, 1]),
        camera_bin_accuracy=float((_QUANTIZER.discretize(pred_camera) == _QUANTIZER.discretize(true_camera)).mean()),
        n_frames=n,
    )


def evaluate_idm(
    labeller: IDMLabeller | IDMNetwork,
    pairs: Sequence[ContractorPair],
    window: int = 128,
    stride: int | None = None,
    problems: list[tuple[ContractorPair, str]] | None = None,
) -> IDMMetrics | ActionIDMMetrics:
    """Label every frame of ``pairs`` once, as pseudo-labelling does, and compare with the recorded actions
    (:class:`IDMMetrics` for a Minecraft IDM, :class:`ActionIDMMetrics` for a Crafter one).

    :param labeller: an :class:`IDMLabeller` (or a network, wrapped in one).
    :param pairs: held-out recordings (all frames kept, ``drop_null="none"``).
    :param window: frames per window. :param stride: window stride (default ``window // 2``).
    :param problems: collects ``(pair, reason)`` for pairs that could not be read (they are skipped).
    """
    if isinstance(labeller, IDMNetwork):
        labeller = IDMLabeller(labeller, device=next(labeller.parameters()).device)
    stride = max(1, window // 2) if stride is None else stride
    codec = labeller.action_codec
    pred_b, pred_c, true_b, true_c = [], [], [], []
    for pair in pairs:
        actions: list[dict[str, Any]] = []

        def frames() -> Iterator[np.ndarray]:
            for chunk in read_pair(pair, resolution=labeller.resolution, drop_null="none", action_codec=codec):
                actions.extend(chunk.env_actions)
                yield chunk.frames

        try:
            labels = label_frames(frames(), labeller, window, stride)
        except (ContractorFormatError, OSError) as err:
            if problems is not None:
                problems.append((pair, str(err)))
            continue
        if codec != "minecraft":
            pred_b.append(np.array([a["action"] for a in labels])), true_b.append(np.array([a["action"] for a in actions]))
            continue
        b, c = env_action_arrays(labels)
        tb, tc = env_action_arrays(actions)
        pred_b.append(b), pred_c.append(c), true_b.append(tb), true_c.append(tc)
    if not pred_b:
        raise ValueError("no held-out frames could be read")
    if codec != "minecraft":
        return action_idm_metrics(np.concatenate(pred_b), np.concatenate(true_b))
    return idm_metrics(np.concatenate(pred_b), np.concatenate(pred_c), np.concatenate(true_b), np.concatenate(true_c))


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


@dataclass
class IDMTrainingConfig:
    """Settings of an IDM training run (saved in every checkpoint's ``trainer_state.json``).

    :param data: directory of contractor pairs (``.mp4`` + ``.jsonl``), or a list of pair paths.
    :param out_dir: run directory (checkpoints, logs, ``final/``).
    :param model: an IDM preset name (``"4x"``, ``"tiny"``) for a fresh network, or an ``IDMConfig.to_dict()``
        (e.g. :data:`agents.vpt.config.CRAFTER_IDM`'s); its ``action_space`` picks the data's action codec.
    :param init_from: start from this IDM checkpoint (a directory / released name) instead.
    :param val_data: held-out pairs (directory); default: ``val_fraction`` of ``data``'s recordings.
    :param val_fraction: recordings held out when ``val_data`` is not given.
    :param window: frames per training window (128 in VPT).
    :param batch_size: windows per update.
    :param epochs: passes over the training data. :param max_steps: stop after this many updates.
    :param lr: AdamW learning rate. :param weight_decay: AdamW (decoupled) weight decay.
    :param max_grad_norm: gradient-norm clipping threshold.
    :param shuffle_buffer: windows in the shuffle buffer.
    :param random_offsets: start each video's windows at a random offset per epoch (else at frame 0).
    :param prefetch: batches decoded ahead in a background thread (0: decode in the training loop).
    :param seed: seeds the data order and the network initialisation.
    :param checkpoint_every: updates between checkpoints (0: only at the end).
    :param keep_checkpoints: checkpoints kept.
    :param log_every: updates between log lines.
    :param eval_every: updates between held-out evaluations (0: only at the end).
    :param log_formats: SB3 logger formats.
    :param progress: show a tqdm bar.
    :param device: torch device.
    :param resume: continue from ``out_dir``'s latest checkpoint if there is one.
    :param data_shards: data shards S of a data-parallel run (:mod:`agents.vpt.distributed`): each epoch's
        recordings are dealt to S shards, each read by one process, each giving ``batch_size / S`` windows
        (from its own shuffle buffer of ``shuffle_buffer / S``) to every batch. The batches are the same
        for any number of processes dividing S. Default: the value of the run being resumed, else the
        number of processes (1: the single-stream order described above).
    """

    data: str | list[str]
    out_dir: str
    model: str | dict[str, Any] = "4x"
    init_from: str | None = None
    val_data: str | None = None
    val_fraction: float = 0.1
    window: int = 128
    batch_size: int = 4
    epochs: int = 1
    max_steps: int | None = None
    lr: float = 3e-4
    weight_decay: float = 0.01
    max_grad_norm: float = 5.0
    shuffle_buffer: int = 32
    random_offsets: bool = True
    prefetch: int = 2
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    eval_every: int = 0
    log_formats: tuple[str, ...] = ("stdout", "csv")
    progress: bool = True
    device: str = "cpu"
    resume: bool = True
    data_shards: int | None = None

    def __post_init__(self) -> None:
        """Refuse a number that would train to NaN or do nothing (``max_grad_norm=nan``, ``lr=0``, ...)."""
        check_training_numbers(self)
        for name, value, rule in (
            ("val_fraction", self.val_fraction, dict(minimum=0, below=1)),
            ("window", self.window, dict(integer=True, minimum=1)),
            ("shuffle_buffer", self.shuffle_buffer, dict(integer=True, minimum=1)),
            ("eval_every", self.eval_every, dict(integer=True, minimum=0)),
        ):
            check_number(name, value, **rule)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["log_formats"] = list(self.log_formats)
        return d


@dataclass
class IDMTrainingResult:
    """What :func:`train_idm` returns.

    :param idm: the trained network. :param steps: updates done in total.
    :param losses: the loss of every update of this call. :param metrics: the final held-out metrics
        (None without held-out data). :param problems: ``(pair, reason)`` of skipped recordings.
    :param final_dir: where the final network was saved (``save_pretrained`` format).
    """

    idm: IDMNetwork
    steps: int
    losses: list[float]
    metrics: IDMMetrics | ActionIDMMetrics | None
    problems: list[tuple[ContractorPair, str]] = field(default_factory=list)
    final_dir: Path | None = None


def build_idm(model: str | dict[str, Any], init_from: str | None, seed: int) -> IDMNetwork:
    """A fresh IDM from a preset (initialised with ``seed``) or a loaded checkpoint."""
    return build_network(IDMNetwork, "IDM", IDM_PRESETS, model, init_from, seed)


def _batch_tensors(batch: list[IDMWindow], device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    obs = torch.from_numpy(np.stack([w.frames for w in batch])).to(device)
    if batch[0].agent_actions is not None:  # a single discrete head (Crafter): targets are the action indices
        return obs, {"action": torch.from_numpy(np.stack([w.agent_actions[:, 0] for w in batch])).to(device)}
    targets = idm_targets(np.stack([w.buttons for w in batch]), np.stack([w.camera for w in batch]))
    return obs, {k: v.to(device) for k, v in targets.items()}


#: Settings that decide the data order and the network: a resumed run must keep them.
_RESUME_KEYS = ("model", "init_from", "window", "batch_size", "shuffle_buffer", "random_offsets", "seed", "val_fraction",
                "data_shards")


def _padding_window(idm: IDMNetwork, window: int) -> IDMWindow:
    """A blank window with valid targets: the zero-weight step of a process whose shards ran out."""
    frames = np.zeros((window, idm.config.img_size, idm.config.img_size, 3), np.uint8)
    if idm.config.action_space != "minecraft":
        return IDMWindow("", 0, frames, None, None, np.zeros((window, 1), np.int64))
    return IDMWindow("", 0, frames, np.zeros((window, len(BUTTONS)), np.int64), np.zeros((window, 2)))


def _rank_batches(
    order: Sequence[ContractorPair],
    offsets: list[int] | None,
    rng: np.random.Generator,
    epoch: int,
    config: IDMTrainingConfig,
    shards: int,
    ctx: DistributedContext,
    idm: IDMNetwork,
    problems: list[tuple[ContractorPair, str]],
) -> Iterator[list[IDMWindow]]:
    """This process's part of each batch of an epoch: one sub-batch of ``batch_size / shards`` windows from
    each of its shards, concatenated in shard order (a shard that ran out gives none). Ends when all of its
    shards ran out.

    With one shard the epoch's ``rng`` (after the order and offsets were drawn) drives the shuffle buffer,
    the original single-stream order; with more, shard ``s`` has its own ``default_rng([seed, epoch, 1, s])``.
    """
    indices = deal(range(len(order)), shards)
    per_shard, buffer = config.batch_size // shards, config.shuffle_buffer // shards
    streams: list[Iterator[list[IDMWindow]] | None] = []
    for s in shard_range(ctx.rank, ctx.world_size, shards):
        pairs = [order[i] for i in indices[s]]
        shard_offsets = [offsets[i] for i in indices[s]] if offsets is not None else None
        shard_rng = rng if shards == 1 else np.random.default_rng([config.seed, epoch, 1, s])
        windows = iter_idm_windows(pairs, config.window, idm.config.img_size, problems, offsets=shard_offsets,
                                   action_codec=idm.config.action_space)  # fmt: skip
        streams.append(shuffled_batches(windows, per_shard, buffer, shard_rng))
    while any(stream is not None for stream in streams):
        batch: list[IDMWindow] = []
        for k, stream in enumerate(streams):
            part = next(stream, None) if stream is not None else None
            if part is None:
                streams[k] = None
            else:
                batch.extend(part)
        if batch:
            yield batch


def train_idm(config: IDMTrainingConfig) -> IDMTrainingResult:
    """Train an IDM (see the module docstring); resumes from ``config.out_dir`` when it has a checkpoint.

    Under ``torchrun`` (or in an initialised process group) the run is data-parallel
    (:mod:`agents.vpt.distributed`): every process calls this with the same config; rank 0 writes the
    checkpoints, logs and the final model, and every rank returns the same result.

    :param config: the run's settings.
    :return: an :class:`IDMTrainingResult`.
    """
    with distributed_context(config.device) as ctx:
        return _train_idm(config, ctx)


def _train_idm(config: IDMTrainingConfig, ctx: DistributedContext) -> IDMTrainingResult:
    from stable_baselines3.common.logger import Logger
    from tqdm.auto import tqdm

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = ctx.device
    pairs = resolve_pairs(config.data)
    _check_same_pairs(ctx, pairs)
    if config.val_data is not None:
        train_pairs, val_pairs = pairs, resolve_pairs(config.val_data)
    else:
        train_pairs, val_pairs = split_pairs(pairs, config.val_fraction, config.seed)
    idm = build_idm(config.model, config.init_from, config.seed).to(device)
    optimizer = torch.optim.AdamW(idm.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step, epoch, done_in_epoch = 0, 0, 0
    ckpt = latest_checkpoint(out) if config.resume else None
    saved_config: dict[str, Any] = {}
    if ckpt is not None:
        state, _ = load_checkpoint(ckpt, idm, optimizer, required=("epoch", "batches_in_epoch", "config"))
        saved_config = {"data_shards": 1, **state.get("config", {})}  # runs from before data_shards had one
        step, epoch, done_in_epoch = int(state["step"]), int(state["epoch"]), int(state["batches_in_epoch"])
    shards = resolve_shards(config.data_shards, saved_config.get("data_shards"), ctx.world_size, config.batch_size)
    if config.shuffle_buffer < config.batch_size:
        raise ValueError(f"shuffle_buffer ({config.shuffle_buffer}) must be >= batch_size ({config.batch_size})")
    settings = {**config.to_json(), "data_shards": shards}
    if ckpt is not None:
        check_resumable(ckpt, saved_config, settings, _RESUME_KEYS)
    model = ctx.wrap(idm)
    logger = make_logger(out / "logs" / f"from-step-{step}", config.log_formats) if ctx.is_main else Logger(None, [])
    problems: list[tuple[ContractorPair, str]] = []
    losses: list[float] = []
    max_steps = config.max_steps if config.max_steps is not None else math.inf
    bar = tqdm(total=None if config.max_steps is None else config.max_steps, initial=step, unit="step",
               desc="IDM training", disable=not config.progress or not ctx.is_main)  # fmt: skip

    def save() -> None:
        if ctx.is_main:
            trainer_state = {"step": step, "epoch": epoch, "batches_in_epoch": done_in_epoch, "config": settings}
            save_checkpoint(out, idm, optimizer, trainer_state, keep=config.keep_checkpoints)

    def evaluate() -> IDMMetrics | ActionIDMMetrics | None:
        metrics = None
        if val_pairs and ctx.is_main:  # rank 0 evaluates; the others wait at their next collective
            idm.eval()
            metrics = evaluate_idm(IDMLabeller(idm, device=device), val_pairs, config.window, problems=problems)
            idm.train()
            for key, value in metrics.summary().items():
                logger.record(f"eval/{key}", value)
        return metrics

    started, frames_seen = time.perf_counter(), 0
    try:
        while epoch < config.epochs and step < max_steps:
            rng = np.random.default_rng([config.seed, epoch])
            order = [train_pairs[i] for i in rng.permutation(len(train_pairs))]
            epoch_problems: list[tuple[ContractorPair, str]] = []
            offsets = rng.integers(0, config.window, len(order)).tolist() if config.random_offsets else None
            finished = True
            batches = prefetch(_rank_batches(order, offsets, rng, epoch, config, shards, ctx, idm, epoch_problems),
                               config.prefetch)  # fmt: skip
            index = -1
            while True:
                index += 1
                batch = next(batches, None)
                if index < done_in_epoch:
                    continue  # resumed: these batches were trained on before the checkpoint
                if step >= max_steps:
                    finished = False
                    break
                n_local = len(batch) * config.window if batch else 0
                (n_global,) = ctx.sum([n_local])
                if n_global == 0:  # every shard of every process ran out: the epoch is over
                    break
                obs, targets = _batch_tensors(batch or [_padding_window(idm, config.window)], device)
                # this process's share of the mean over the global batch; DDP averages, so times N
                share = n_local / n_global
                if idm.config.action_space == "minecraft":
                    loss, parts = idm_loss(model(obs), targets)
                else:
                    loss, parts = action_nll(idm.pi_head, model(obs), targets)
                optimizer.zero_grad(set_to_none=True)
                (loss * (share * ctx.world_size)).backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(idm.parameters(), config.max_grad_norm))
                optimizer.step()
                step, done_in_epoch = step + 1, index + 1
                totals = ctx.sum([float(loss.detach()) * share] + [v * share for v in parts.values()])
                frames_seen += int(n_global)
                losses.append(totals[0])
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
                if step % config.log_every == 0:
                    logger.record("train/loss", losses[-1])
                    for key, value in zip(parts, totals[1:]):
                        logger.record(f"train/{key}", value)
                    logger.record("train/grad_norm", grad_norm)
                    logger.record("train/epoch", epoch)
                    logger.record("time/frames_per_second", frames_seen / (time.perf_counter() - started))
                    logger.dump(step)
                if config.eval_every and step % config.eval_every == 0:
                    evaluate()
                    logger.dump(step)
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    save()
            batches.close()  # stops the prefetch thread when the loop ended early
            problems.extend(p for p in epoch_problems if p not in problems)
            if index == 0 and finished and done_in_epoch == 0:
                reported = [p for rank_problems in ctx.gather_objects(problems) for p in rank_problems]
                raise ValueError(
                    f"no training windows of {config.window} frames: every recording failed or is shorter; "
                    f"problems: {[(str(p.video), reason) for p, reason in reported]}"
                )
            if not finished:
                break
            epoch, done_in_epoch = epoch + 1, 0
        save()
        metrics = ctx.broadcast_object(evaluate())
        logger.record("train/total_steps", step)
        logger.dump(step)
    finally:
        bar.close()
        logger.close()
    final_dir = out / "final"
    from agents.vpt.io import save_pretrained

    if ctx.is_main:
        replace_directory_atomic(final_dir, lambda tmp: save_pretrained(idm, tmp), durable=True)
    all_problems: list[tuple[ContractorPair, str]] = []
    for rank_problems in ctx.gather_objects(problems):
        all_problems.extend(p for p in rank_problems if p not in all_problems)
    ctx.barrier()  # the final model is written before any process returns
    return IDMTrainingResult(idm.eval(), step, losses, metrics, all_problems, final_dir)


def _check_same_pairs(ctx: DistributedContext, pairs: Sequence[ContractorPair]) -> None:
    """Every process must list the same recordings (the shards are dealt from that list)."""
    if not ctx.distributed:
        return
    import hashlib

    digest = hashlib.sha256("\n".join(str(p.video) for p in pairs).encode()).hexdigest()
    seen = ctx.gather_objects((len(pairs), digest))
    if len(set(seen)) > 1:
        raise ValueError(
            f"the processes see different recordings ((count, digest) per rank: {seen}); every process must "
            "read the same data directory (a shared file system, or identical copies)"
        )

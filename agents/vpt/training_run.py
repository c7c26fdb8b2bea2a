"""A VPT training run directory (IDM training and behavioural cloning): atomic, resumable checkpoints
and the run's logger (:func:`make_logger`).

A run directory holds ``checkpoints/step-<N>/`` directories and a ``checkpoints/latest`` pointer. Each
checkpoint directory contains:

- ``config.json`` + ``model.safetensors``: the network in :func:`agents.vpt.io.save_pretrained`'s format,
  so a checkpoint directory loads directly with :func:`agents.vpt.io.load_pretrained` /
  ``from_pretrained`` (and is a valid ``init_from`` for fine-tuning);
- ``optimizer.safetensors`` + ``optimizer.json``: the optimizer's tensors and its JSON-able rest
  (hyper-parameters, step counts), never a pickle;
- ``trainer_state.json``: where the run is (step, epoch, batches done in the epoch, ...);
- ``extra.safetensors``: other tensors needed for an identical continuation (the torch RNG state, BC's
  transformer memory).

Writing is atomic and durable, and a checkpoint stays reachable at every instant: a new checkpoint is
written into a hidden temporary directory, every file and the directory are fsynced, the directory is
renamed to a name no other checkpoint has (``step-<N>``, or ``step-<N>.<k>`` when step N is saved again,
e.g. the final save right after a periodic one), then the ``latest`` pointer is swapped atomically, and
only then are superseded and old checkpoints deleted. A kill at any moment leaves ``latest`` on the
previous or the new checkpoint, never on a half-written or deleted one. :func:`latest_checkpoint` falls
back (with a warning) to the newest complete checkpoint when the pointer is missing or dangling, and the
next save removes the temporary directories a killed run left.

Example::

    >>> import tempfile, torch
    >>> from agents.vpt.idm import IDMNetwork
    >>> from agents.vpt.training_run import latest_checkpoint, load_checkpoint, save_checkpoint
    >>> run = tempfile.mkdtemp()
    >>> net = IDMNetwork("tiny"); opt = torch.optim.AdamW(net.parameters())
    >>> path = save_checkpoint(run, net, opt, {"step": 3})
    >>> load_checkpoint(latest_checkpoint(run), net, opt)[0]["step"]
    3
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agents.checkpoints import (
    CheckpointError,
    PathLike,
    load_json,
    load_safetensors,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_json,
    save_safetensors,
)
from agents.resume import check_resumable
from agents.vpt.io import from_pretrained, load_pretrained, save_pretrained
from vpt_gym.atomic_file import fsync_directory, fsync_tree, write_atomic

__all__ = [
    "check_training_numbers",
    "make_logger",
    "check_resumable",
    "prefetch",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "remove_leftovers",
]

CHECKPOINTS = "checkpoints"
LATEST = "latest"
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
EXTRA_TENSORS = "extra.safetensors"
_PLACEHOLDER = "__placeholder__"
#: The files of a complete checkpoint directory.
_REQUIRED = ("config.json", "model.safetensors", OPTIMIZER_TENSORS, OPTIMIZER_JSON, EXTRA_TENSORS, TRAINER_STATE)
_NAME = re.compile(r"step-(\d{9})(?:\.(\d+))?")
#: Hidden names a save uses while it works: its temporary directory and checkpoints it is deleting.
_TEMPORARY, _DISCARDED = ".tmp-", ".old-"


def _order(path: Path) -> tuple[int, int] | None:
    """``(step, version)`` of a checkpoint directory name, None for anything else."""
    match = _NAME.fullmatch(path.name)
    return None if match is None else (int(match.group(1)), int(match.group(2) or 0))


def _checkpoints(root: Path) -> list[Path]:
    """The checkpoint directories under ``root``, oldest first (by step, then by version)."""
    found = [p for p in root.iterdir() if p.is_dir() and _order(p) is not None] if root.is_dir() else []
    return sorted(found, key=_order)  # type: ignore[arg-type,return-value]


def _complete(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in _REQUIRED)


def remove_leftovers(run_dir: PathLike) -> list[Path]:
    """Delete the temporary and half-deleted directories a killed save left under ``run_dir``'s
    checkpoints (never a checkpoint). Call it only when no other process is saving to this run.

    :return: the paths removed.
    """
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    removed = []
    for p in root.iterdir():
        if p.name.startswith((_TEMPORARY, _DISCARDED, f".{LATEST}.")):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _discard(path: Path) -> None:
    """Delete a checkpoint directory: first renamed to a hidden name (atomic), so a kill during the
    deletion never leaves a partial ``step-*`` directory that could be taken for a checkpoint."""
    hidden = path.with_name(f"{_DISCARDED}{path.name}-{os.getpid()}")
    os.rename(path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)



def check_training_numbers(config: Any) -> None:
    """Check the numeric settings the IDM and BC trainers share (batch size, epochs, learning rate, clipping,
    checkpoint and log intervals...): a value that would train to NaN or do nothing raises ``ValueError``
    naming the setting (:func:`vpt_gym.number_checks.check_number`)."""
    from vpt_gym.number_checks import check_number

    for name, value, rule in (
            ("batch_size", config.batch_size, dict(integer=True, minimum=1)),
            ("epochs", config.epochs, dict(integer=True, minimum=1)),
            ("max_steps", config.max_steps, dict(integer=True, minimum=1, optional=True)),
            ("lr", config.lr, dict(minimum=0)),
            ("weight_decay", config.weight_decay, dict(minimum=0)),
            ("max_grad_norm", config.max_grad_norm, dict(above=0)),
            ("seed", config.seed, dict(integer=True, minimum=0)),
            ("checkpoint_every", config.checkpoint_every, dict(integer=True, minimum=0)),
            ("keep_checkpoints", config.keep_checkpoints, dict(integer=True, minimum=1)),
            ("log_every", config.log_every, dict(integer=True, minimum=1)),
            ("prefetch", config.prefetch, dict(integer=True, minimum=0)),
    ):
        check_number(name, value, **rule)

def build_network(
    cls: type[nn.Module], name: str, presets: Any, preset: str | dict[str, Any], init_from: str | None, seed: int
) -> nn.Module:
    """A fresh ``cls`` network from ``preset`` (initialised with ``seed``), or the pretrained one at
    ``init_from`` (a directory, an official pair or a released name), which must be a ``cls``.

    :param name: how errors name the network, e.g. ``"VPT policy"``.
    :param preset: a preset name of ``presets``, or a config in its JSON form (``PolicyConfig.to_dict()`` /
        ``IDMConfig.to_dict()``, e.g. a Crafter network's; JSON-able, so a run's settings stay plain JSON).
    """
    if init_from is not None:
        net = from_pretrained(init_from)
        if not isinstance(net, cls):
            article = "an" if name[0] in "AEIOU" else "a"
            raise ValueError(f"init_from={init_from!r} holds a {type(net).__name__}, not {article} {name}")
        return net.train()
    if isinstance(preset, dict):
        from agents.vpt.io import config_from_dict

        config = config_from_dict(preset)
        wanted = type(next(iter(presets.values())))
        if not isinstance(config, wanted):
            raise ValueError(f"the {name} config has kind {preset.get('kind')!r}; expected {wanted.kind!r}")
        torch.manual_seed(seed)
        return cls(config).train()
    if preset not in presets:
        raise ValueError(f"unknown {name} preset {preset!r}; known: {sorted(presets)} (or use init_from=)")
    torch.manual_seed(seed)
    return cls(preset).train()


def save_checkpoint(
    run_dir: PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
    keep: int = 2,
) -> Path:
    """Write a checkpoint atomically and point ``latest`` at it.

    :param run_dir: the run directory.
    :param model: a VPT network (saved with :func:`agents.vpt.io.save_pretrained`).
    :param optimizer: its optimizer.
    :param trainer_state: JSON-able progress; must contain ``"step"`` (names the directory).
    :param extra_tensors: other tensors to restore (the torch RNG state is always added).
    :param keep: how many checkpoints to keep (older ones are deleted after the new one is in place).
    :return: the checkpoint directory.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1; got {keep}")
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(run_dir)
    step = int(trainer_state["step"])
    base = f"step-{step:09d}"
    taken = {p.name for p in root.iterdir()}
    name = base if base not in taken else next(f"{base}.{k}" for k in range(1, len(taken) + 2) if f"{base}.{k}" not in taken)
    final, tmp = root / name, root / f"{_TEMPORARY}{name}-{os.getpid()}"
    tmp.mkdir()
    save_pretrained(model, tmp)
    tensors, plain = optimizer_to_tensors(optimizer)
    # a file with no tensors cannot be read back by safetensors: an optimizer that has not stepped yet
    # has no state, so a placeholder entry keeps the file valid
    save_safetensors(tmp / OPTIMIZER_TENSORS, {_PLACEHOLDER: torch.zeros(1), **tensors})
    save_json(tmp / OPTIMIZER_JSON, plain)
    extra = {"torch_rng_state": torch.get_rng_state(), **(extra_tensors or {})}
    save_safetensors(tmp / EXTRA_TENSORS, extra)
    save_json(tmp / TRAINER_STATE, trainer_state)
    fsync_tree(tmp)
    os.rename(tmp, final)  # a new name: the checkpoint `latest` points at is untouched
    fsync_directory(root)
    write_atomic(root / LATEST, lambda p: p.write_text(name + "\n"), durable=True)
    # only now, with `latest` on the new checkpoint: drop the ones it supersedes (the same step saved
    # before) and the oldest beyond `keep`
    others = [p for p in _checkpoints(root) if p != final]
    superseded = [p for p in others if _order(p)[0] == step]  # type: ignore[index]
    rest = [p for p in others if _order(p)[0] != step]  # type: ignore[index]
    for old in superseded + rest[: max(0, len(rest) - (keep - 1))]:
        _discard(old)
    return final


def latest_checkpoint(run_dir: PathLike) -> Path | None:
    """The checkpoint ``latest`` points at, or None when the run has none.

    Without a pointer (a run killed between writing its first checkpoint and the pointer) it is the newest
    complete checkpoint. A pointer that names a checkpoint that is not there or not complete (a run killed
    by an older version, a directory deleted by hand) falls back to the newest complete checkpoint with a
    warning that says so; a run whose checkpoints are all incomplete is an error.
    """
    root = Path(run_dir) / CHECKPOINTS
    pointer = root / LATEST
    candidates = [p for p in _checkpoints(root) if _complete(p)]
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8", errors="replace").strip()
        path = root / name
        if _order(path) is not None and _complete(path):
            return path
        problem = f"{pointer} points at {name[:80]!r}, which does not exist or is incomplete"
    else:  # a kill between a run's first checkpoint and its pointer; or no checkpoint yet
        if candidates:
            return candidates[-1]
        if not _checkpoints(root):
            return None
        problem = f"{root} has no {LATEST!r} pointer"
    if not candidates:
        raise CheckpointError(f"{problem}, and the run has no other complete checkpoint")
    warnings.warn(f"{problem}; resuming from the newest complete checkpoint, {candidates[-1].name}", stacklevel=2)
    return candidates[-1]


def load_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    required: tuple[str, ...] = (),
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Load a checkpoint into ``model`` (and ``optimizer``) in place and restore the torch RNG state.

    :param path: a checkpoint directory (see :func:`latest_checkpoint`).
    :param model: a network with the same architecture (checked: a different config is an error).
    :param optimizer: the optimizer to restore, if any.
    :param required: ``trainer_state.json`` entries the caller needs besides ``step`` (each checked to be
        there; ``step``, ``epoch`` and ``batches_in_epoch`` must be non-negative integers and ``config`` an
        object wherever they appear).
    :return: ``(trainer_state, extra_tensors)``.
    :raises CheckpointError: on a checkpoint that does not fit or has wrong fields.
    """
    path = Path(path)
    state = load_json(path / TRAINER_STATE)
    _check_trainer_state(path / TRAINER_STATE, state, ("step", *required))
    saved = load_pretrained(path)
    if saved.config != model.config:
        raise CheckpointError(f"{path}: the checkpoint's config {saved.config} differs from the model's {model.config}")
    model.load_state_dict(saved.state_dict())
    if optimizer is not None:
        tensors = load_safetensors(path / OPTIMIZER_TENSORS)
        tensors.pop(_PLACEHOLDER, None)
        optimizer_from_tensors(optimizer, tensors, load_json(path / OPTIMIZER_JSON), str(path))
    extra = load_safetensors(path / EXTRA_TENSORS)
    rng = extra.pop("torch_rng_state", None)
    if rng is not None:
        expected = torch.get_rng_state()
        if rng.dtype != expected.dtype or rng.shape != expected.shape:
            raise CheckpointError(f"{path / EXTRA_TENSORS}: torch_rng_state is {rng.dtype} {tuple(rng.shape)}, "
                                  f"expected {expected.dtype} {tuple(expected.shape)}")
        torch.set_rng_state(rng)
    return state, extra


def _check_trainer_state(source: Path, state: Any, required: tuple[str, ...]) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: must be a JSON object, got {type(state).__name__}")
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{source}: no {missing} entries (a trainer state has step, epoch, batches_in_epoch)")
    for key in ("step", "epoch", "batches_in_epoch"):
        value = state.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(f"{source}: {key!r} must be a non-negative integer, got a {type(value).__name__}"
                                  + (f" ({value})" if isinstance(value, (int, float)) else ""))
    if "config" in state and not isinstance(state["config"], dict):
        raise CheckpointError(f"{source}: 'config' must be a JSON object, got {type(state['config']).__name__}")


def make_logger(run_dir: PathLike, formats: tuple[str, ...] | list[str] = ("stdout", "csv")) -> Any:
    """Stable-Baselines3's logger writing to ``run_dir`` (``progress.csv``, TensorBoard events, ...).

    :param run_dir: the run directory.
    :param formats: SB3 output formats: ``"stdout"``, ``"csv"``, ``"log"``, ``"json"``, ``"tensorboard"``
        (the last needs the ``tensorboard`` package).
    """
    from stable_baselines3.common.logger import configure

    known = ("stdout", "csv", "log", "json", "tensorboard")
    unknown = [f for f in formats if f not in known]
    if unknown:
        raise ValueError(f"unknown log formats {unknown}; known: {list(known)}")
    if "tensorboard" in formats:
        try:
            import tensorboard  # noqa: F401
        except ImportError as e:
            raise ImportError("log format 'tensorboard' needs the tensorboard package: pip install tensorboard") from e
    return configure(str(run_dir), list(formats))


def prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run ``items`` (e.g. a generator decoding video) in a background thread, ``depth`` items ahead, so
    decoding overlaps training. Items come out in the same order; an exception in the producer is
    raised here; leaving the loop early stops the producer.

    :param items: any iterator.
    :param depth: items buffered ahead (0: no thread, ``items`` itself).
    """
    if depth <= 0:
        yield from items
        return
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        out.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(("end", None))
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer
            out.put(("error", err))

    thread = threading.Thread(target=produce, daemon=True, name="vpt-prefetch")
    thread.start()
    try:
        while True:
            kind, value = out.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()

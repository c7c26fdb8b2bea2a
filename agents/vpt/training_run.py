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

Writing is atomic: everything goes into a hidden temporary directory that is renamed into place
(``os.rename`` of a directory), then the ``latest`` pointer is replaced with ``os.replace``. A crash at
any moment leaves either the previous or the new checkpoint as ``latest``, never a half-written one.

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
import shutil
import threading
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
from agents.vpt.io import from_pretrained, load_pretrained, save_pretrained

__all__ = ["make_logger", "check_resumable", "prefetch", "save_checkpoint", "load_checkpoint", "latest_checkpoint"]

CHECKPOINTS = "checkpoints"
LATEST = "latest"
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
EXTRA_TENSORS = "extra.safetensors"
_PLACEHOLDER = "__placeholder__"


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
    name = f"step-{int(trainer_state['step']):09d}"
    final, tmp = root / name, root / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    save_pretrained(model, tmp)
    tensors, plain = optimizer_to_tensors(optimizer)
    # a file with no tensors cannot be read back by safetensors: an optimizer that has not stepped yet
    # has no state, so a placeholder entry keeps the file valid
    save_safetensors(tmp / OPTIMIZER_TENSORS, {_PLACEHOLDER: torch.zeros(1), **tensors})
    save_json(tmp / OPTIMIZER_JSON, plain)
    extra = {"torch_rng_state": torch.get_rng_state(), **(extra_tensors or {})}
    save_safetensors(tmp / EXTRA_TENSORS, extra)
    save_json(tmp / TRAINER_STATE, trainer_state)
    if final.exists():  # the same step saved again (e.g. the final save right after a periodic one)
        shutil.rmtree(final)
    os.rename(tmp, final)
    pointer = root / f".{LATEST}.tmp-{os.getpid()}"
    pointer.write_text(name + "\n")
    os.replace(pointer, root / LATEST)
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: PathLike) -> Path | None:
    """The checkpoint ``latest`` points at, or None when the run has none."""
    pointer = Path(run_dir) / CHECKPOINTS / LATEST
    if not pointer.is_file():
        return None
    path = pointer.parent / pointer.read_text().strip()
    if not path.is_dir():
        raise CheckpointError(f"{pointer} points at {path.name!r}, which does not exist")
    return path


def load_checkpoint(
    path: PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Load a checkpoint into ``model`` (and ``optimizer``) in place and restore the torch RNG state.

    :param path: a checkpoint directory (see :func:`latest_checkpoint`).
    :param model: a network with the same architecture (checked: a different config is an error).
    :param optimizer: the optimizer to restore, if any.
    :return: ``(trainer_state, extra_tensors)``.
    """
    path = Path(path)
    saved = load_pretrained(path)
    if saved.config != model.config:
        raise CheckpointError(f"{path}: the checkpoint's config {saved.config} differs from the model's {model.config}")
    model.load_state_dict(saved.state_dict())
    if optimizer is not None:
        tensors = load_safetensors(path / OPTIMIZER_TENSORS)
        tensors.pop(_PLACEHOLDER, None)
        optimizer_from_tensors(optimizer, tensors, load_json(path / OPTIMIZER_JSON), str(path))
    extra = load_safetensors(path / EXTRA_TENSORS)
    if "torch_rng_state" in extra:
        torch.set_rng_state(extra.pop("torch_rng_state"))
    state = load_json(path / TRAINER_STATE)
    if "step" not in state:
        raise CheckpointError(f"{path / TRAINER_STATE}: no 'step' entry")
    return state, extra


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


def check_resumable(path: PathLike, saved: dict[str, Any], current: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Refuse to resume a run whose data-order settings changed (the continuation would not be the same run).

    :param path: the checkpoint (for the message).
    :param saved: the settings stored in its ``trainer_state.json`` (``"config"``).
    :param current: the new run's settings.
    :param keys: the settings that must be equal.
    """
    changed = {k: (saved.get(k), current.get(k)) for k in keys if saved.get(k) != current.get(k)}
    if changed:
        detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise ValueError(
            f"{path}: cannot resume with different settings ({detail}); use the same settings, another "
            "output directory, or resume=False (--no-resume) to start over"
        )



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

"""Atomic, code-free checkpoints of GenRL training state (safetensors + JSON).

One file, ``<name>.safetensors``, holds every tensor (world-model weights ``model/...``, its Adam moments
``optim/<i>/...``, optionally the connector ``connector/...`` and its Adam ``connector_optim/<i>/...``, and
the torch RNG state) and, in its metadata, a JSON document with the configs, the step, the optimiser
hyper-parameters and the numpy RNG state. Writing goes through :func:`vpt_gym.atomic_file.write_atomic` (temporary file, fsync, rename),
so a crash never leaves a half-written checkpoint; a readable copy of the JSON is written beside it
(``<name>.json``). Loading never executes code (safetensors + ``json``) and matches keys strictly.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from agents.checkpoints import (
    CheckpointError,
    check_module_against,
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_safetensors_header,
)
from agents.genrl.connector import Connector, ConnectorConfig, make_connector_optimizer
from agents.genrl.world_model import WorldModel, WorldModelConfig, make_optimizer
from vpt_gym.atomic_file import write_atomic

FORMAT = "vpt_gym.genrl.world_model"
#: 2: the optimiser state is stored through :func:`agents.checkpoints.optimizer_to_tensors` (v1 files, written
#: before that change, cannot be resumed: their optimiser layout differs).
VERSION = 2


@dataclass
class TrainingState:
    """Everything a training run needs to continue.

    :param model: the world model. :param optimizer: its Adam.
    :param step: updates done. :param rng: numpy generator of the batch sampler (None if not saved).
    :param connector: optional connector + aligner. :param connector_optimizer: its Adam.
    :param meta: the checkpoint's JSON metadata.
    """

    model: WorldModel
    optimizer: torch.optim.Optimizer
    step: int = 0
    rng: Optional[np.random.Generator] = None
    connector: Optional[Connector] = None
    connector_optimizer: Optional[torch.optim.Optimizer] = None
    meta: dict[str, Any] = field(default_factory=dict)


def _module_tensors(prefix: str, module: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """The module's weights under ``<prefix>/`` and its optimizer's tensors under ``<prefix>_optim/``, plus
    the optimizer's JSON-able rest (hyper-parameters, step counts)."""
    tensors = {f"{prefix}/{k}": v.detach().contiguous() for k, v in module.state_dict().items()}
    opt_tensors, opt_plain = optimizer_to_tensors(optimizer)
    tensors.update({f"{prefix}_optim/{k}": v.detach().contiguous() for k, v in opt_tensors.items()})
    return tensors, opt_plain


def save_checkpoint(
    path: str | os.PathLike, state: TrainingState, extra: Optional[dict[str, Any]] = None
) -> Path:
    """Write ``state`` atomically to ``path`` (a ``.safetensors`` file) plus a ``.json`` copy of its metadata.

    :param path: target path.
    :param state: model, optimiser(s), step, sampler RNG.
    :param extra: more JSON-serialisable fields (e.g. the training arguments).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors, optim = _module_tensors("model", state.model, state.optimizer)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": state.model.config.to_dict(),
        "step": int(state.step),
        "optim": optim,
        "numpy_rng": state.rng.bit_generator.state if state.rng is not None else None,
        "connector_config": None,
        "extra": extra or {},
    }
    if state.connector is not None:
        if state.connector_optimizer is None:
            raise ValueError("a connector checkpoint needs its optimizer too (connector_optimizer is None)")
        more, connector_optim = _module_tensors("connector", state.connector, state.connector_optimizer)
        tensors.update(more)
        meta["connector_config"] = state.connector.config.to_dict()
        meta["connector_optim"] = connector_optim
    tensors["rng/torch"] = torch.get_rng_state()
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata={"vpt_gym": json.dumps(meta)}), durable=True)
    text = json.dumps(meta, indent=1)
    write_atomic(path.with_suffix(".json"), lambda tmp: tmp.write_text(text), durable=True)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (format and version checked)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("vpt_gym")
    except Exception as err:  # safetensors raises its own (version-dependent) error types
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {err}") from err
    if raw is None:
        raise CheckpointError(f"{path} has no 'vpt_gym' metadata; not a vpt-gym world-model checkpoint")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: metadata is not valid JSON: {err}") from err
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: metadata must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") == FORMAT and meta.get("version") == 1:
        raise CheckpointError(
            f"{path}: written by an older vpt-gym (world-model checkpoint v1, an earlier optimiser layout); "
            f"this version reads v{VERSION}: retrain the world model"
        )
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: unsupported checkpoint format {meta.get('format')!r} v{meta.get('version')!r}; "
            f"expected {FORMAT!r} v{VERSION}"
        )
    return meta


def check_sizes(path: Path, meta: dict[str, Any]) -> None:
    """Check the configs in ``meta`` against the file's tensors (header only, nothing loaded) before any
    module is built from them: a small file whose JSON claims a huge network is refused unbuilt."""
    specs, _ = read_safetensors_header(path)
    parts = [("model", lambda: WorldModel(WorldModelConfig.from_dict(meta["config"])))]
    if meta.get("connector_config") is not None:
        parts.append(("connector", lambda: Connector(ConnectorConfig.from_dict(meta["connector_config"]))))
    for prefix, build in parts:
        part = {k[len(prefix) + 1:]: v for k, v in specs.items() if k.startswith(prefix + "/")}
        check_module_against(build, part, f"{path} ({prefix})")


def _restore(path: Path, prefix: str, module: nn.Module, optimizer: torch.optim.Optimizer,
             tensors: dict[str, torch.Tensor], optim: dict[str, Any]) -> None:
    sd = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + "/")}
    missing, unexpected = module.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: {prefix} weights do not match: missing {missing}, unexpected {unexpected}")
    opt_prefix = prefix + "_optim/"
    opt_tensors = {k[len(opt_prefix):]: v for k, v in tensors.items() if k.startswith(opt_prefix)}
    optimizer_from_tensors(optimizer, opt_tensors, optim, str(path))


def load_checkpoint(path: str | os.PathLike, restore_rng: bool = True) -> TrainingState:
    """Rebuild the training state from a checkpoint written by :func:`save_checkpoint`.

    :param path: the ``.safetensors`` file.
    :param restore_rng: also restore torch's global RNG (needed for an identical continuation).
    :raises CheckpointError: (a ValueError) on a corrupt, foreign or mismatching file.
    """
    path = Path(path)
    meta = read_metadata(path)
    check_sizes(path, meta)
    try:
        tensors = load_file(str(path))
    except Exception as err:  # safetensors raises its own (version-dependent) error types
        raise CheckpointError(f"{path} is corrupt: {err}") from err
    model = WorldModel(WorldModelConfig.from_dict(meta["config"]))
    optimizer = make_optimizer(model)
    _restore(path, "model", model, optimizer, tensors, meta["optim"])
    connector = connector_optimizer = None
    if meta.get("connector_config") is not None:
        connector = Connector(ConnectorConfig.from_dict(meta["connector_config"]))
        connector_optimizer = make_connector_optimizer(connector)
        _restore(path, "connector", connector, connector_optimizer, tensors, meta["connector_optim"])
    if restore_rng:
        torch.set_rng_state(tensors["rng/torch"])
    rng = None
    if meta.get("numpy_rng") is not None:
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["numpy_rng"]
    return TrainingState(model, optimizer, int(meta["step"]), rng, connector, connector_optimizer, meta)

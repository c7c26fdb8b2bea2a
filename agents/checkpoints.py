"""Safe checkpoint I/O shared by every agent: the project's one restricted unpickler, torch state dicts
loaded with ``weights_only=True``, safetensors + JSON config files, strict key checks and sha256.

Nothing here ever executes code from a file: :class:`RestrictedUnpickler` resolves a pickle's globals
only through an explicit allow-list that maps ``(module, name)`` to a safe constructor (or plain data),
and rejects every other global with :class:`ForbiddenGlobalError` naming it.

Example::

    >>> import io, pickle
    >>> from agents.checkpoints import ForbiddenGlobalError, restricted_loads
    >>> restricted_loads(pickle.dumps({"a": [1, 2.0, "x"]}), allowed={})
    {'a': [1, 2.0, 'x']}
    >>> try:
    ...     restricted_loads(pickle.dumps(print), allowed={})
    ... except ForbiddenGlobalError as e:
    ...     print(e.global_name)
    builtins.print
"""

from __future__ import annotations

import _compat_pickle
import hashlib
import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt, unsafe, or does not match the model."""


class ForbiddenGlobalError(CheckpointError, pickle.UnpicklingError):
    """A pickle referenced a global that is not on the allow-list (it was NOT imported or called).

    :param global_name: ``"module.name"`` of the rejected global.
    :param source: the file (or other source) being read.
    """

    def __init__(self, global_name: str, source: str) -> None:
        self.global_name = global_name
        super().__init__(
            f"{source}: refusing to unpickle forbidden global {global_name!r}: only allow-listed types may appear "
            "in a checkpoint (loading it with plain pickle could execute arbitrary code)"
        )


class KeyMismatchError(CheckpointError):
    """State-dict keys or shapes do not match the model.

    :param missing: keys the model expects but the file lacks.
    :param unexpected: keys in the file the model does not have.
    :param mismatched: ``key -> (file shape, model shape)``.
    """

    def __init__(
        self, missing: list[str], unexpected: list[str], mismatched: dict[str, tuple[tuple, tuple]], source: str
    ) -> None:
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        parts = [f"{source}: state dict does not match the model"]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {missing}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {unexpected}")
        if mismatched:
            parts.append(
                "shape mismatches: " + ", ".join(f"{k}: file {a} vs model {b}" for k, (a, b) in mismatched.items())
            )
        super().__init__("; ".join(parts))


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol 0-2 pickles use to rebuild ``bytes``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError(
            f"_codecs.encode is only allowed on str with latin1, got {type(text).__name__}/{encoding!r}"
        )
    return text.encode("latin1")


#: Opcode-level containers need no globals; these are the harmless builtins a plain-data pickle may name.
PLAIN_DATA_GLOBALS: dict[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves globals only through ``allowed``.

    :param file: binary file object.
    :param allowed: ``(module, name) -> object`` returned in place of the global (a safe constructor, a
        stand-in class, or plain data). Every other global raises :class:`ForbiddenGlobalError`.
    :param source: name used in error messages.
    """

    def __init__(
        self, file: io.BufferedIOBase, allowed: Mapping[tuple[str, str], Any], source: str = "<pickle>"
    ) -> None:
        super().__init__(file)
        self._allowed = {**PLAIN_DATA_GLOBALS, **allowed}
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        # protocol 0-2 pickles use Python 2 names (``__builtin__.set``); map them like pickle itself does
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(f"{module}.{name}", self._source) from None

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(f"{self._source}: persistent ids are not allowed in this pickle (got {pid!r})")


def restricted_loads(data: bytes, allowed: Mapping[tuple[str, str], Any], source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; truncation/corruption -> :class:`CheckpointError`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), allowed, source).load()
    except CheckpointError:
        raise
    except (
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        UnicodeDecodeError,
        MemoryError,
        OverflowError,
    ) as e:
        raise CheckpointError(f"{source}: truncated or corrupt pickle ({type(e).__name__}: {e})") from e


def restricted_load(path: PathLike, allowed: Mapping[tuple[str, str], Any]) -> Any:
    """Read a pickle file with the allow-list (see :func:`restricted_loads`)."""
    return restricted_loads(_read_bytes(path), allowed, source=str(path))


def _read_bytes(path: PathLike) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {p}")
    return p.read_bytes()


def make_reconstructor(classes: Mapping[str, type]) -> Callable[..., Any]:
    """A safe stand-in for ``copyreg._reconstructor`` (used by protocol-0/1 pickles of plain objects):
    builds only instances of the given allow-listed stand-in classes.

    :param classes: the stand-in classes that may be rebuilt (their names are used in errors).
    """
    allowed = set(classes.values())

    def reconstructor(cls: type, base: type, state: Any) -> Any:
        if cls not in allowed or base is not object or state is not None:
            raise CheckpointError(f"copyreg._reconstructor called with a non-allow-listed type {cls!r}/{base!r}")
        return cls.__new__(cls)

    return reconstructor


def _load_weights_only(path: Path, map_location: str | torch.device) -> Any:
    """``torch.load(weights_only=True)``, memory-mapped when the file is in the zip format (every checkpoint
    saved by torch >= 1.6): the tensors are then read from the page cache while they are copied into the
    module, instead of being held as a second full copy in process memory (the 4x IDM's ~1.9 GB of weights
    otherwise peak at about twice that). Legacy-format files are read the plain way."""
    if zipfile.is_zipfile(path):
        return torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    return torch.load(path, map_location=map_location, weights_only=True)


def load_torch_state_dict(path: PathLike, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """``torch.load(path, weights_only=True)`` with clear errors; the result must be a ``str -> Tensor`` mapping."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    try:
        obj = _load_weights_only(p, map_location)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{p}: refused or unreadable torch checkpoint (weights_only=True): {e}") from e
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise CheckpointError(f"{p}: truncated or corrupt torch checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(f"{p}: expected a state dict (str -> Tensor), got {type(obj).__name__}")
    return dict(obj)


def check_state_dict(
    expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor], source: str = "<state dict>"
) -> None:
    """Raise :class:`KeyMismatchError` listing missing, unexpected and wrongly-shaped keys."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    mismatched = {
        k: (tuple(got[k].shape), tuple(expected[k].shape))
        for k in sorted(set(expected) & set(got))
        if tuple(got[k].shape) != tuple(expected[k].shape)
    }
    if missing or unexpected or mismatched:
        raise KeyMismatchError(missing, unexpected, mismatched, source)


def load_state_dict_strict(
    module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "<state dict>"
) -> None:
    """Check keys and shapes (:func:`check_state_dict`), then load with ``strict=True``."""
    check_state_dict(module.state_dict(), state_dict, source)
    module.load_state_dict(state_dict, strict=True)


def save_json(path: PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_json(path: PathLike) -> dict[str, Any]:
    """Read a JSON object; a missing or malformed file raises a clear error."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {p}")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{p}: corrupt JSON config ({e})") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{p}: expected a JSON object, got {type(data).__name__}")
    return data


def save_safetensors(
    path: PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> None:
    """Save tensors (made contiguous, on CPU) as safetensors."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path), metadata=dict(metadata or {}))


def load_safetensors(path: PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file; a truncated/corrupt one raises :class:`CheckpointError`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"safetensors file not found: {p}")
    try:
        return load_file(str(p), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{p}: truncated or corrupt safetensors file ({e})") from e


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (``"<param id>.<name>"``) and a JSON-able rest."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        plain[str(pid)] = {}
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value
            else:
                plain[str(pid)][name] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "state": plain}


def optimizer_from_tensors(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], plain: dict[str, Any], source: str
) -> None:
    """Inverse of :func:`optimizer_to_tensors`; the parameter groups must match ``optimizer``'s."""
    current = optimizer.state_dict()["param_groups"]
    groups = plain.get("param_groups")
    if not isinstance(groups, list) or [g.get("params") for g in groups] != [g["params"] for g in current]:
        raise CheckpointError(
            f"{source}: optimizer parameter groups do not match the model's "
            f"({[len(g['params']) for g in current]} parameters per group expected)"
        )
    state = _optimizer_state(optimizer, tensors, plain, source)
    for g, c in zip(groups, current):  # JSON turned tuples (betas) into lists
        for k, v in c.items():
            if isinstance(v, tuple) and isinstance(g.get(k), list):
                g[k] = tuple(g[k])
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{source}: optimizer state does not fit the optimizer ({e})") from e


def _optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], plain: dict[str, Any], source: str
) -> dict[int, dict[str, Any]]:
    """The per-parameter state of :func:`optimizer_from_tensors`, checked before torch sees it: integer
    parameter ids of this optimizer, JSON objects, and every tensor that is not a scalar (Adam's
    ``exp_avg``/``exp_avg_sq``, SGD's momentum) shaped like its parameter, so a tampered file fails here
    rather than in the first ``step()``."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    entries = plain.get("state", {})
    if not isinstance(entries, dict):
        raise CheckpointError(f"{source}: optimizer 'state' must be a JSON object, got {type(entries).__name__}")

    def pid_of(key: Any) -> int:
        text = str(key)
        if not text.isdigit() or int(text) >= len(params):
            raise CheckpointError(f"{source}: optimizer state names parameter {text[:40]!r}; expected an integer "
                                  f"id in [0, {len(params)})")
        return int(text)

    state: dict[int, dict[str, Any]] = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise CheckpointError(f"{source}: optimizer state of parameter {str(key)[:40]!r} must be a JSON object")
        state[pid_of(key)] = dict(entry)
    for key, value in tensors.items():
        pid, _, name = key.partition(".")
        index = pid_of(pid)
        if value.dim() > 0 and value.shape != params[index].shape:
            raise CheckpointError(f"{source}: optimizer tensor {key[:60]!r} has shape {tuple(value.shape)}, its "
                                  f"parameter {tuple(params[index].shape)}")
        state.setdefault(index, {})[name] = value
    return state


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()

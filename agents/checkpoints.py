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
import contextlib
import hashlib
import io
import json
import math
import os
import pickle
import reprlib
import struct
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt, unsafe, or does not match the model."""


# ------------------------------------------------------------------------------------ bounded reprs


class _BoundedRepr(reprlib.Repr):
    """:class:`reprlib.Repr` that only ever descends into exact builtin containers and scalars (depth and
    length limited) and never calls an unknown object's own ``__repr__`` (which a hostile file controls,
    directly or through a stand-in class named like a builtin): those print as ``<TypeName>``."""

    _SCALARS = (bool, float, complex, type(None))

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxtuple, self.maxlist, self.maxarray = 3, 6, 6, 6
        self.maxdict, self.maxset, self.maxfrozenset, self.maxdeque = 6, 6, 6, 6
        self.maxstring, self.maxlong, self.maxother = 60, 40, 60

    def repr1(self, x: Any, level: int) -> str:
        t = type(x)
        if t is str:
            return self.repr_str(x, level)
        if t is int:
            if x.bit_length() > 128:  # str() of a huge int is quadratic (and refused past 4300 digits)
                return f"<int of {x.bit_length()} bits>"
            return self.repr_int(x, level)
        if t in self._SCALARS:
            return repr(x)
        if t in (bytes, bytearray):
            head = repr(bytes(x[: self.maxstring]))
            return head if len(x) <= self.maxstring else f"{head[:-1]}...' ({len(x)} bytes)"
        if t in (tuple, list, set, frozenset):
            return self._sequence(x, level)
        if t is dict:
            return self._dict(x, level)
        if isinstance(x, torch.Tensor):
            return f"<tensor {tuple(x.shape)} {str(x.dtype).removeprefix('torch.')}>"
        return f"<{t.__name__}>"

    def _sequence(self, x: Any, level: int) -> str:
        left, right = {tuple: ("(", ")"), list: ("[", "]"), set: ("{", "}"), frozenset: ("frozenset({", "})")}[
            type(x)
        ]
        if not x:
            return {tuple: "()", list: "[]", set: "set()", frozenset: "frozenset()"}[type(x)]
        if level <= 0:
            return f"{left}...{right}"
        limit = self.maxlist
        items = []
        for i, item in enumerate(x):  # sets are not sorted: sorting could compare hostile objects
            if i >= limit:
                items.append(f"... ({len(x)} items)")
                break
            items.append(self.repr1(item, level - 1))
        if type(x) is tuple and len(x) == 1:
            items[0] += ","
        return left + ", ".join(items) + right

    def _dict(self, x: dict, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = []
        for i, (k, v) in enumerate(x.items()):
            if i >= self.maxdict:
                items.append(f"... ({len(x)} items)")
                break
            items.append(f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}")
        return "{" + ", ".join(items) + "}"


_BOUNDED_REPR = _BoundedRepr()


def bounded_repr(obj: Any, limit: int = 200) -> str:
    """A short ``repr`` for error messages about data read from a file: containers are cut at 3 levels and
    6 items, strings at 60 characters, the result at ``limit``; other objects print as ``<TypeName>``, so
    a hostile value (a "repr bomb" of shared nested lists, a stand-in with a malicious ``__repr__``)
    costs a bounded amount of time and memory.

    >>> bounded_repr({"n": list(range(100)), "deep": [[[[[1]]]]]})
    "{'n': [0, 1, 2, 3, 4, 5, ... (100 items)], 'deep': [[[...]]]}"
    """
    text = _BOUNDED_REPR.repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_error(err: BaseException, limit: int = 200) -> str:
    """``"TypeName: message"`` of an exception, bounded like :func:`bounded_repr` (its args may hold data
    from the file, whose ``str`` would be its full ``repr``)."""
    args = err.args
    if all(type(a) in (str, int, float) for a in args):
        text = str(err) if len(args) != 1 or type(args[0]) is not int or args[0].bit_length() < 128 else "?"
    else:
        text = bounded_repr(args[0] if len(args) == 1 else args, limit)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(err).__name__}: {text}"


class ForbiddenGlobalError(CheckpointError, pickle.UnpicklingError):
    """A pickle referenced a global that is not on the allow-list (it was NOT imported or called).

    :param global_name: ``"module.name"`` of the rejected global.
    :param source: the file (or other source) being read.
    """

    def __init__(self, global_name: str, source: str) -> None:
        self.global_name = global_name
        super().__init__(
            f"{source}: refusing to unpickle forbidden global {bounded_repr(global_name)}: only allow-listed types may appear "
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
            parts.append(f"missing keys ({len(missing)}): {_key_list(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_key_list(unexpected)}")
        if mismatched:
            shown = list(mismatched.items())[:20]
            parts.append(
                "shape mismatches: "
                + ", ".join(f"{_key_list([k])[2:-2]}: file {bounded_repr(a)} vs model {b}" for k, (a, b) in shown)
                + (f", ... ({len(mismatched)} in all)" if len(mismatched) > len(shown) else "")
            )
        super().__init__("; ".join(parts))


def _key_list(keys: list[str], limit: int = 20, width: int = 200) -> str:
    """``['a', 'b', ... (N in all)]``: at most ``limit`` keys (state-dict keys can come from a file), each cut at
    ``width`` characters."""
    shown = [repr(k[:width] + ("..." if len(k) > width else "")) if type(k) is str else bounded_repr(k)
             for k in keys[:limit]]
    more = f", ... ({len(keys)} in all)" if len(keys) > limit else ""
    return "[" + ", ".join(shown) + more + "]"


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol 0-2 pickles use to rebuild ``bytes``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError(
            f"_codecs.encode is only allowed on str with latin1, got {type(text).__name__}/{bounded_repr(encoding)}"
        )
    return text.encode("latin1")


def _no_size_argument(kind: type) -> Callable[..., Any]:
    """``bytes``/``bytearray`` as a pickle may call them: from existing data only. ``bytearray(n)`` with an
    integer ``n`` (which a 30-byte pickle can ask for, zero-filling gigabytes) never occurs in a pickle of
    real data (protocols 0-4 pickle ``bytearray(b"...")`` / ``bytearray("...", "latin-1")``) and is refused
    before anything is allocated."""

    def construct(*args: Any) -> Any:
        if len(args) > 2 or (args and (isinstance(args[0], int) or hasattr(args[0], "__index__"))):
            raise CheckpointError(
                f"refusing {kind.__name__}({', '.join(bounded_repr(a, 40) for a in args)}) in a pickle: a "
                f"{kind.__name__} may only be rebuilt from data stored in the file, not from a size"
            )
        if args and type(args[0]) not in (bytes, bytearray, str, list, tuple):
            raise CheckpointError(f"refusing {kind.__name__}() of a {type(args[0]).__name__} in a pickle")
        if len(args) == 2 and (type(args[0]) is not str or type(args[1]) is not str):
            raise CheckpointError(f"refusing {kind.__name__}(<{type(args[0]).__name__}>, <encoding>) in a pickle")
        return kind(*args)

    construct.__name__ = kind.__name__
    return construct


#: ``bytearray`` / ``bytes`` for allow-lists: rebuilt from stored data only, never from a size.
safe_bytearray = _no_size_argument(bytearray)
safe_bytes = _no_size_argument(bytes)

#: Most tuple/frozenset nodes that hashing one key may visit. Python does not cache a tuple's hash, so a
#: tuple built of shared tuples (``t = (t, t)`` 64 times: a 200-byte pickle) takes 2**64 steps to hash as a
#: dict key or set member; keys of real data are small.
MAX_HASH_NODES = 100_000


def check_hashable(key: Any, source: str = "<pickle>") -> Any:
    """Return ``key`` if hashing it visits at most :data:`MAX_HASH_NODES` nested tuples/frozensets, else
    raise :class:`CheckpointError` (before hashing it)."""
    if type(key) not in (tuple, frozenset):
        return key
    stack, visited = [key], 0
    while stack:
        node = stack.pop()
        visited += 1
        if visited > MAX_HASH_NODES:
            raise CheckpointError(
                f"{source}: a dict key or set member nests more than {MAX_HASH_NODES} tuples (hashing it would "
                "not finish); refusing it"
            )
        stack.extend(child for child in node if type(child) in (tuple, frozenset))
    return key


def _hash_checked(kind: type) -> Callable[..., Any]:
    """``set``/``frozenset``/``dict`` for allow-lists: elements and keys are checked before being hashed."""

    def construct(*args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], (list, tuple)):
            for item in args[0]:
                if kind is dict and type(item) in (tuple, list) and item:
                    check_hashable(item[0])
                elif kind is not dict:
                    check_hashable(item)
        elif args and kind is not dict and not isinstance(args[0], (set, frozenset)):
            raise CheckpointError(f"refusing {kind.__name__}() of a {type(args[0]).__name__} in a pickle")
        return kind(*args, **kwargs)

    construct.__name__ = kind.__name__
    return construct


safe_set, safe_frozenset, safe_dict = _hash_checked(set), _hash_checked(frozenset), _hash_checked(dict)

#: Opcode-level containers need no globals; these are the harmless builtins a plain-data pickle may name.
PLAIN_DATA_GLOBALS: dict[tuple[str, str], Any] = {
    ("builtins", "set"): safe_set,
    ("builtins", "frozenset"): safe_frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): safe_bytearray,
    ("collections", "OrderedDict"): safe_dict,
    ("_codecs", "encode"): _latin1_encode,
}


def _checked_dispatch() -> dict[int, Callable[..., Any]]:
    """Python's unpickler dispatch table with the opcodes that hash keys (``SETITEM(S)``, ``DICT``,
    ``ADDITEMS``, ``FROZENSET``) checking them first, and ``BYTEARRAY8`` reading before it allocates."""
    table = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def load_setitem(self: Any) -> None:
        check_hashable(self.stack[-2], self._source)
        table[pickle.SETITEM[0]](self)

    def keys_then(opcode: bytes, every: int) -> Callable[[Any], None]:
        def load(self: Any) -> None:
            for item in self.stack[::every]:
                check_hashable(item, self._source)
            table[opcode[0]](self)

        return load

    def load_bytearray8(self: Any) -> None:
        (size,) = struct.unpack("<Q", self.read(8))
        data = self.read(size)  # at most what the file holds
        if len(data) != size:
            raise pickle.UnpicklingError("pickle data was truncated (BYTEARRAY8)")
        self.append(bytearray(data))

    checked = dict(table)
    checked[pickle.SETITEM[0]] = load_setitem
    checked[pickle.SETITEMS[0]] = keys_then(pickle.SETITEMS, 2)
    checked[pickle.DICT[0]] = keys_then(pickle.DICT, 2)
    checked[pickle.ADDITEMS[0]] = keys_then(pickle.ADDITEMS, 1)
    checked[pickle.FROZENSET[0]] = keys_then(pickle.FROZENSET, 1)
    checked[pickle.BYTEARRAY8[0]] = load_bytearray8
    return checked


class RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """An unpickler that resolves globals only through ``allowed``.

    It is Python's own unpickler (``pickle._Unpickler``, the same opcodes as the C one) so that the opcodes
    that hash dict keys and set members can check them first (:func:`check_hashable`): the C unpickler would
    hash a 200-byte "hash bomb" forever.

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

    dispatch = _checked_dispatch()

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
        raise CheckpointError(f"{self._source}: persistent ids are not allowed in this pickle (got {bounded_repr(pid)})")


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
        struct.error,
        RecursionError,
    ) as e:
        raise CheckpointError(f"{source}: truncated or corrupt pickle ({describe_error(e)})") from e


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
            raise CheckpointError(f"copyreg._reconstructor called with a non-allow-listed type {bounded_repr(cls)}/{bounded_repr(base)}")
        return cls.__new__(cls)

    return reconstructor


def check_zip_members(path: PathLike, archive: zipfile.ZipFile | None = None) -> None:
    """Refuse a zip whose members declare more bytes than the file could hold uncompressed.

    ``torch.save`` and our writers store members uncompressed, so a member's ``file_size`` cannot exceed
    the archive's size on disk; a deflated member that inflates beyond it (a "zip bomb": gigabytes from
    a megabyte) is refused from the central directory, before anything is read.
    """
    size = os.path.getsize(path)
    with contextlib.ExitStack() as stack:
        if archive is None:
            archive = stack.enter_context(zipfile.ZipFile(path))
        for info in archive.infolist():
            if info.file_size > size:
                raise CheckpointError(
                    f"{path}: zip member {bounded_repr(info.filename, 80)} declares {info.file_size} bytes "
                    f"uncompressed, more than the whole {size}-byte file; refusing to inflate it"
                )


def check_tensor_data(tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Check that tensors are backed by as many bytes as they claim: no tensor may overlap itself (a
    stride-0 view makes one stored number look like a tensor of any shape, and models are then built and
    copied at that shape), and together they may not claim more bytes than their distinct storages hold.

    :raises CheckpointError: naming the first offending tensor.
    """
    storages: dict[tuple[Any, int], int] = {}
    claimed = 0
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            continue
        dims = sorted((st, n) for n, st in zip(t.shape, t.stride()) if n > 1)
        reach = 1
        for st, n in dims:  # every stride must step past everything the smaller strides reach
            if st < reach:
                raise CheckpointError(
                    f"{source}: tensor {bounded_repr(name, 80)} (shape {tuple(t.shape)}, stride {t.stride()}) "
                    "overlaps itself: its elements are not all stored in the file"
                )
            reach = st * n
        storage = t.untyped_storage()
        storages[(storage.device.type, storage.data_ptr())] = storage.nbytes()
        claimed += t.numel() * t.element_size()
    stored = sum(storages.values())
    if claimed > stored:
        raise CheckpointError(
            f"{source}: its tensors claim {claimed} bytes but only {stored} bytes of tensor data are stored"
        )


def _load_weights_only(path: Path, map_location: str | torch.device) -> Any:
    """``torch.load(weights_only=True)``, memory-mapped when the file is in the zip format (every checkpoint
    saved by torch >= 1.6): the tensors are then read from the page cache while they are copied into the
    module, instead of being held as a second full copy in process memory (the 4x IDM's ~1.9 GB of weights
    otherwise peak at about twice that). Legacy-format files are read the plain way."""
    if zipfile.is_zipfile(path):
        check_zip_members(path)
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
        raise CheckpointError(f"{p}: refused or unreadable torch checkpoint (weights_only=True): {describe_error(e, 400)}") from e
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise CheckpointError(f"{p}: truncated or corrupt torch checkpoint ({describe_error(e)})") from e
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(f"{p}: expected a state dict (str -> Tensor), got {type(obj).__name__}")
    check_tensor_data(obj, str(p))
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
        raise CheckpointError(f"{p}: corrupt JSON config ({describe_error(e)})") from e
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
        raise CheckpointError(f"{p}: truncated or corrupt safetensors file ({describe_error(e)})") from e


@dataclass(frozen=True)
class TensorSpec:
    """A tensor as a safetensors header declares it: ``shape`` and ``dtype`` (``torch.dtype``)."""

    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * torch.empty((), dtype=self.dtype).element_size()


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
#: safetensors' own limit on the JSON header.
MAX_SAFETENSORS_HEADER = 100_000_000


def read_safetensors_header(path: PathLike) -> tuple[dict[str, TensorSpec], dict[str, str]]:
    """The tensors a safetensors file declares (name -> :class:`TensorSpec`) and its string metadata, read
    from the header alone (nothing is loaded), after checking that the declared tensors exactly fill the
    file (the format's invariant: a file cannot declare more data than it holds).

    :raises CheckpointError: unreadable header, unknown dtype, or declared sizes that do not match the file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"safetensors file not found: {p}")
    size = p.stat().st_size
    try:
        with open(p, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > min(MAX_SAFETENSORS_HEADER, size - 8):
                raise CheckpointError(
                    f"{p}: truncated or corrupt safetensors file (a header of {n} bytes in a {size}-byte file)"
                )
            header = json.loads(f.read(n))
    except (struct.error, json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError) as e:
        raise CheckpointError(f"{p}: truncated or corrupt safetensors file ({describe_error(e)})") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{p}: safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    specs: dict[str, TensorSpec] = {}
    ranges = []
    for name, entry in header.items():
        try:
            dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
            shape = tuple(entry["shape"])
            start, end = entry["data_offsets"]
            if not all(type(v) is int and v >= 0 for v in (*shape, start, end)):
                raise TypeError("shape and offsets must be non-negative integers")
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(
                f"{p}: malformed header entry {bounded_repr(name, 80)}: {bounded_repr(entry)} ({describe_error(e)})"
            ) from e
        spec = TensorSpec(shape, dtype)
        if end - start != spec.nbytes:
            raise CheckpointError(
                f"{p}: tensor {bounded_repr(name, 80)} of shape {shape} {dtype} needs {spec.nbytes} bytes, "
                f"the header gives it {end - start}"
            )
        specs[name] = spec
        ranges.append((start, end))
    ranges.sort()
    position = 0
    for start, end in ranges:
        if start != position:
            raise CheckpointError(f"{p}: safetensors data has a gap or overlap at byte {position}")
        position = end
    if 8 + n + position != size:
        raise CheckpointError(
            f"{p}: truncated or corrupt safetensors file (the header declares {position} bytes of tensor data, "
            f"the file holds {size - 8 - n})"
        )
    if not isinstance(metadata, dict) or not all(type(v) is str for v in metadata.values()):
        raise CheckpointError(f"{p}: safetensors metadata must map strings to strings")
    return specs, metadata


class _RegistrationBudget:
    """Counts parameters, buffers and submodules as a module is built (module registration hooks) and stops
    the build once it exceeds what the file can fill."""

    def __init__(self, max_tensors: int, max_numel: int, max_modules: int, source: str) -> None:
        self.max_tensors, self.max_numel, self.max_modules, self.source = max_tensors, max_numel, max_modules, source
        self.tensors = self.numel = self.modules = 0
        self.thread = threading.get_ident()

    def _fail(self, what: str) -> None:
        raise CheckpointError(
            f"{self.source}: the config describes a network larger than the file's tensors ({what}); "
            "refusing to build it"
        )

    def tensor(self, module: Any, name: str, value: Any) -> None:
        if threading.get_ident() != self.thread or value is None:
            return
        self.tensors += 1
        self.numel += value.numel()
        if self.tensors > self.max_tensors:
            self._fail(f"more than {self.max_tensors} tensors")
        if self.numel > self.max_numel:
            self._fail(f"more than {self.max_numel} elements")

    def module(self, parent: Any, name: str, child: Any) -> None:
        if threading.get_ident() != self.thread:
            return
        self.modules += 1
        if self.modules > self.max_modules:
            self._fail(f"more than {self.max_modules} submodules")


@contextlib.contextmanager
def build_budget(max_tensors: int, max_numel: int, source: str, max_modules: int | None = None) -> Iterator[None]:
    """Stop any network built inside the block (in this thread) once it registers more than ``max_tensors``
    parameters and buffers, ``max_numel`` elements or ``max_modules`` submodules (default ``8 * max_tensors
    + 256``), with a :class:`CheckpointError`: for networks whose sizes come from a file, bounded by what
    the file's tensors can fill."""
    modules = 8 * max_tensors + 256 if max_modules is None else max_modules
    with _budget(_RegistrationBudget(max_tensors, max_numel, modules, source)):
        yield


class _AllocationGuard(torch.overrides.TorchFunctionMode):
    """Refuses a tensor factory call (``torch.empty``, ``zeros``...) larger than the budget BEFORE it allocates
    (a module's parameters are only seen by the registration hooks once they exist)."""

    _FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.rand, torch.randn, torch.full, torch.empty_strided}

    def __init__(self, budget: _RegistrationBudget) -> None:
        super().__init__()
        self.budget = budget

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in self._FACTORIES and str(kwargs.get("device", "")) != "meta" and args:
            size = args[0] if isinstance(args[0], (tuple, list, torch.Size)) else args
            if func is torch.full or func is torch.empty_strided:
                size = args[0]
            if all(type(n) is int for n in size) and math.prod(size) > self.budget.max_numel:
                self.budget._fail(f"one tensor of shape {tuple(size)}")
        return func(*args, **kwargs)


@contextlib.contextmanager
def _budget(budget: _RegistrationBudget) -> Iterator[None]:
    from torch.nn.modules import module as module_hooks

    handles = [
        module_hooks.register_module_parameter_registration_hook(budget.tensor),
        module_hooks.register_module_buffer_registration_hook(budget.tensor),
        module_hooks.register_module_module_registration_hook(budget.module),
    ]
    try:
        with _AllocationGuard(budget):
            yield
    finally:
        for h in handles:
            h.remove()


#: Elements a network may hold beyond its state dict (non-persistent buffers such as attention masks).
MAX_EXTRA_NUMEL = 1 << 26


def check_module_against(
    build: Callable[[], torch.nn.Module],
    expected: Mapping[str, TensorSpec | torch.Tensor],
    source: str,
    check_dtypes: bool = True,
) -> torch.nn.Module:
    """Build the network a config describes on the ``meta`` device (no memory) and check that its state dict
    is exactly ``expected`` (keys, shapes, dtypes) -- call it BEFORE building the real network from sizes
    read from a file, so that a small config cannot make us allocate a huge one. The build itself is
    stopped early once it registers more tensors, elements or submodules than ``expected`` can fill.

    :param build: builds the network (it runs under ``torch.device("meta")``).
    :param expected: the file's tensors (:func:`read_safetensors_header` specs, or loaded tensors).
    :param check_dtypes: also require equal dtypes (False where loading converts them).
    :return: the network on the meta device (``.to_empty(device=...)`` gives it memory).
    :raises CheckpointError: (:class:`KeyMismatchError` for keys/shapes) on any mismatch.
    """
    numel = sum(math.prod(v.shape) for v in expected.values())
    budget = _RegistrationBudget(len(expected) + 64, numel + MAX_EXTRA_NUMEL, 8 * len(expected) + 256, source)
    try:
        with _budget(budget), torch.device("meta"):
            module = build()
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, RuntimeError, OverflowError, MemoryError) as e:
        raise CheckpointError(f"{source}: the config does not describe a valid network ({describe_error(e)})") from e
    got = module.state_dict()
    check_state_dict(got, {k: _ShapeOnly(v.shape) for k, v in expected.items()}, source)  # type: ignore[misc]
    wrong = {k: (v.dtype, got[k].dtype) for k, v in expected.items() if check_dtypes and v.dtype != got[k].dtype}
    if wrong:
        listed = ", ".join(f"{k}: file {a} vs model {b}" for k, (a, b) in list(wrong.items())[:5])
        raise CheckpointError(f"{source}: tensor dtypes do not match the model: {listed}")
    return module


class _ShapeOnly:
    """Something with a ``shape`` (what :func:`check_state_dict` compares)."""

    def __init__(self, shape: Any) -> None:
        self.shape = tuple(shape)


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
        raise CheckpointError(f"{source}: optimizer state does not fit the optimizer ({describe_error(e)})") from e


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

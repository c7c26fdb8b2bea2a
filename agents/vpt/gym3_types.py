"""Plain-data stand-ins for the gym3 type objects pickled inside the official VPT ``.model`` files.

The ``.model`` files hold ``gym3.types.DictType`` / ``TensorType`` / ``Discrete`` / ``Real`` instances
(``extra_args.ac_space`` / ``ob_space``). The restricted unpickler maps those names to the classes here,
which only accept their documented attributes as plain data, so gym3 need not be installed and nothing
from the file is executed.
"""

from __future__ import annotations

from typing import Any

from agents.checkpoints import CheckpointError, bounded_repr, make_reconstructor

_INT_DTYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_FLOAT_DTYPES = {"float32", "float64"}


class _Gym3Record:
    """Base: attributes come from the pickle's BUILD state, validated by :meth:`__setstate__`."""

    _fields: dict[str, type | tuple[type, ...]] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:  # (dict, slots) form
            state = state[0]
        if not isinstance(state, dict) or set(state) != set(self._fields):
            raise CheckpointError(
                f"gym3 {type(self).__name__}: unexpected pickled state {bounded_repr(state)}; expected keys {sorted(self._fields)}"
            )
        for key, typ in self._fields.items():
            if not isinstance(state[key], typ):
                raise CheckpointError(
                    f"gym3 {type(self).__name__}.{key}: expected {typ}, got {type(state[key]).__name__}"
                )
        self.__dict__.update(state)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={bounded_repr(v)}' for k, v in self.__dict__.items())})"


class Discrete(_Gym3Record):
    """``gym3.types.Discrete(n, dtype_name)``."""

    _fields = {"n": int, "dtype_name": str}

    def __setstate__(self, state: Any) -> None:
        super().__setstate__(state)
        if self.dtype_name not in _INT_DTYPES or self.n < 1:
            raise CheckpointError(f"gym3 Discrete: invalid n={self.n} / dtype_name={bounded_repr(self.dtype_name)}")


class Real(_Gym3Record):
    """``gym3.types.Real(dtype_name)``."""

    _fields = {"dtype_name": str}


class TensorType(_Gym3Record):
    """``gym3.types.TensorType(eltype, shape)``."""

    _fields = {"eltype": (Discrete, Real), "shape": tuple}


class DictType(_Gym3Record):
    """``gym3.types.DictType(**name2type)`` (attribute ``_n2t``)."""

    _fields = {"_n2t": dict}

    def __setstate__(self, state: Any) -> None:
        super().__setstate__(state)
        for k, v in self._n2t.items():
            if not isinstance(k, str) or not isinstance(v, (TensorType, DictType)):
                raise CheckpointError(f"gym3 DictType: invalid entry {bounded_repr(k)}: {bounded_repr(v)}")

    def items(self):  # noqa: ANN201 - mirrors gym3
        return self._n2t.items()

    def __getitem__(self, key: str) -> Any:
        return self._n2t[key]


_CLASSES = {"Discrete": Discrete, "Real": Real, "TensorType": TensorType, "DictType": DictType}

#: Allow-list for :func:`agents.checkpoints.restricted_load` of an official ``.model`` file.
MODEL_FILE_GLOBALS: dict[tuple[str, str], Any] = {
    **{("gym3.types", name): cls for name, cls in _CLASSES.items()},
    ("copyreg", "_reconstructor"): make_reconstructor(_CLASSES),
    ("copy_reg", "_reconstructor"): make_reconstructor(_CLASSES),
    ("builtins", "object"): object,
}


#: Most nodes :func:`to_plain` visits: a ``.model`` of shared nested lists would otherwise expand exponentially.
MAX_PLAIN_NODES = 100_000


def to_plain(obj: Any, _budget: list[int] | None = None) -> Any:
    """Recursively turn the stand-ins into plain dicts (``{"type": "TensorType", ...}``) for printing/JSON.

    :raises CheckpointError: more than :data:`MAX_PLAIN_NODES` nodes (counting shared ones each time)."""
    budget = _budget if _budget is not None else [MAX_PLAIN_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise CheckpointError(f"the .model data expands to more than {MAX_PLAIN_NODES} values; refusing to convert it")
    if isinstance(obj, _Gym3Record):
        return {"type": type(obj).__name__,
                **{k.lstrip("_"): to_plain(v, budget) for k, v in obj.__dict__.items()}}
    if isinstance(obj, dict):
        return {k: to_plain(v, budget) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, budget) for v in obj]
    return obj

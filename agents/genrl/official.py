"""Load the released GenRL checkpoints (``genrl_<domain>_500k_2.pt``) without executing any of their code.

The files are whole ``GenRLAgent`` objects written by ``torch.save`` (spec section 8): a zip archive with
``<prefix>/data.pkl`` (the pickled object graph) and ``<prefix>/data/<key>`` (raw tensor storages that the
pickle refers to through persistent ids ``('storage', torch.FloatStorage, key, location, numel)``).
``torch.load(weights_only=False)`` would import the reference's classes and run their code; here:

1. ``data.pkl`` is read with the project's :class:`~agents.checkpoints.RestrictedUnpickler` extended by
   :class:`OfficialUnpickler`. Globals resolve through an allow-list only:

   * classes of the reference repo (modules ``agent.*``, ``tools.*``) and of the libraries its objects
     hold (``torch.nn.modules.*``, ``torch.optim.*``, ``torch.cuda.amp.*``, ``omegaconf.*``, ``gym.spaces``,
     ``gymnasium.spaces``, ``dm_env.specs``, ``numpy`` dtypes/arrays) become inert :class:`PickledObject`
     stand-ins that only record their constructor arguments and state (nothing of theirs is imported or run);
   * ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` are replaced by bounds-checked rebuilders
     over storages read from the zip (``torch.frombuffer`` on copied bytes, never ``torch.load``);
   * ``builtins.getattr`` (used to pickle bound methods) becomes a record :class:`AttributeRef`;
   * every other global (``os.system``, ``builtins.eval``, ...) raises
     :class:`~agents.checkpoints.ForbiddenGlobalError` before anything runs.

2. The ``nn.Module`` stand-ins are walked like ``Module.state_dict`` (``_parameters``, persistent
   ``_buffers``, ``_modules``) to get the agent's flat state dict.

3. :data:`KEY_MAP` renames the reference's keys onto ours, strictly (every ``wm.*`` key must map; every
   target key must be filled; shapes must match); the untrained acting actor-critic (``_acting_behavior``,
   ``_imag_behavior``) is not part of the MFWM and is skipped (listed in :attr:`OfficialGenRL.skipped`).

Reference -> ours (``N`` = layer index; ``(w|b)`` = weight or bias):

* ``wm.encoder._conv_model.N.(w|b)``, ``.N.norm.(w|b)`` -> ``world_model.encoder.net.N.(w|b)``
* ``wm.rssm._img_in.0``, ``._img_in.1._layer`` -> ``world_model.rssm.img_in.0``, ``.img_in.1``
* ``wm.rssm._cell._layer.weight``, ``._cell._norm`` -> ``world_model.rssm.gru.linear.weight``, ``.gru.norm``
* ``wm.rssm._ensemble_img_out.0.0``, ``.0.1._layer`` -> ``world_model.rssm.prior_net.hidden.0.0``, ``.0.1``
* ``wm.rssm._ensemble_img_dist.0`` -> ``world_model.rssm.prior_net.out``
* ``wm.rssm._obs_out.0``, ``._obs_out.1._layer``, ``._obs_dist`` -> ``world_model.rssm.post_net.hidden.0.0``,
  ``.hidden.0.1``, ``.out``
* ``wm.heads.decoder._conv_in.0`` -> ``world_model.decoder.linear``
* ``wm.heads.decoder._conv_model.N``, ``.N.norm`` -> ``world_model.decoder.net.N``
* ``wm.heads.reward.denseN``, ``.normN._layer``, ``._out._out`` -> ``world_model.reward_head.mlp.hidden.N.0``,
  ``.hidden.N.1``, ``.out``
* ``wm.connector.<the rssm keys above>`` -> ``connector.rssm.<as above>``
* ``wm.connector.initial_state_pred.{0,1,3,4,6}`` -> ``connector.initial_mlp.hidden.0.0, .0.1, .1.0, .1.1, .out``
* ``wm.connector.aligner.(down|mid|up).N.layer``, ``.norm_layer._layer``, ``.res_proj`` ->
  ``connector.aligner.(down|mid|up).N.linear``, ``.norm``, ``.proj``

Checked against the reference itself (run locally, not part of the package): a ``GenRLAgent`` built by the
reference code at the official config and saved with ``torch.save`` loads through this module, and our
encoder, GRU, prior, posterior, decoder, aligner and initial-state MLP reproduce the reference modules'
outputs on the same inputs (max abs difference 0 to 2e-6).

The configs are inferred from the tensor shapes (and ``rssm.stoch``/``discrete`` from the pickled agent
config when it can be read; otherwise a square 32 x 32-style split is assumed or must be given).

Example (with a released file on disk)::

    official = load_official_genrl("models/genrl_walker_500k_2.pt")
    official.world_model, official.connector   # our WorldModel and Connector (with its Aligner)
"""
from __future__ import annotations

import io
import math
import os
import re
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import torch

from agents.checkpoints import (
    CheckpointError,
    ForbiddenGlobalError,
    RestrictedUnpickler,
    bounded_repr,
    check_module_against,
    check_state_dict,
    check_tensor_data,
    check_zip_members,
    describe_error,
    safe_bytes,
    safe_dict,
)
from agents.genrl.connector import Connector, ConnectorConfig
from agents.genrl.world_model import WorldModel, WorldModelConfig

#: modules whose globals become inert :class:`PickledObject` stand-ins (prefix match on ``module + "."``).
STAND_IN_MODULES: tuple[str, ...] = (
    "agent", "tools", "omegaconf", "torch.nn.modules", "torch.optim", "torch.cuda.amp", "torch.amp",
    "gym.spaces", "gymnasium.spaces", "dm_env.specs", "numpy", "numpy.core.multiarray", "numpy._core.multiarray",
)
#: single globals that become stand-ins too.
STAND_IN_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("collections", "defaultdict"), ("typing", "Any"), ("torch", "device"), ("builtins", "slice")}
)
#: n_frames of the reference connector (hard-coded in ``GenRLAgent``).
REFERENCE_N_FRAMES = 8


class PickledObject:
    """An inert stand-in for an object of class ``ref`` (module, name) found in a checkpoint.

    It records the constructor arguments (``args``), the pickled state (``state``) and any items or list
    entries pickled into it; it has no behaviour and nothing of the original class is imported.
    """

    ref: tuple[str, str] = ("?", "?")

    def __new__(cls, *args: Any, **kwargs: Any) -> "PickledObject":
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items, obj.entries = args, kwargs, None, {}, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.entries.append(value)

    def extend(self, values: Any) -> None:
        self.entries.extend(values)

    @property
    def attributes(self) -> dict[str, Any]:
        """The pickled ``__dict__`` (``state`` or the dict part of a ``(dict, slots)`` state)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]
        return state if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"<stand-in for {self.ref[0]}.{self.ref[1]}>"


@dataclass(frozen=True)
class AttributeRef:
    """What ``getattr(obj, name)`` was pickled for (a bound method); never resolved."""

    obj: Any
    name: str


@dataclass(frozen=True)
class StorageType:
    """Stand-in for ``torch.<X>Storage``: only its dtype is used."""

    dtype: torch.dtype


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


def _stand_in_class(module: str, name: str, cache: dict[tuple[str, str], type]) -> type:
    key = (module, name)
    if key not in cache:
        cache[key] = type(name, (PickledObject,), {"ref": key, "__module__": f"stand_in.{module}"})
    return cache[key]


class OfficialUnpickler(RestrictedUnpickler):
    """The restricted unpickler for ``data.pkl`` of a torch zip checkpoint of reference objects.

    :param file: the ``data.pkl`` stream.
    :param archive: the open zip (storages are read from ``<prefix>/data/<key>``).
    :param prefix: the archive's top folder.
    :param source: name for error messages.
    """

    def __init__(self, file: io.BufferedIOBase, archive: zipfile.ZipFile, prefix: str, source: str) -> None:
        super().__init__(file, self._fixed_globals(), source)
        self._archive = archive
        self._prefix = prefix
        self._storages: dict[str, torch.Tensor] = {}
        self._classes: dict[tuple[str, str], type] = {}
        self.stand_ins: set[str] = set()

    def _fixed_globals(self) -> dict[tuple[str, str], Any]:
        fixed: dict[tuple[str, str], Any] = {
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
            ("builtins", "getattr"): AttributeRef,
            ("builtins", "list"): list, ("builtins", "dict"): safe_dict, ("builtins", "tuple"): tuple,
            ("builtins", "int"): int, ("builtins", "float"): float, ("builtins", "bool"): bool,
            ("builtins", "str"): str, ("builtins", "bytes"): safe_bytes, ("torch", "Size"): tuple,
        }
        for name, dtype in _STORAGE_DTYPES.items():
            fixed[("torch", name)] = StorageType(dtype)
        for name in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"):
            fixed[("torch", name)] = getattr(torch, name)
        return fixed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except ForbiddenGlobalError:
            if (module, name) in STAND_IN_GLOBALS or any(
                module == m or module.startswith(m + ".") for m in STAND_IN_MODULES
            ):
                self.stand_ins.add(f"{module}.{name}")
                return _stand_in_class(module, name, self._classes)
            raise

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError(f"{self._source}: unexpected persistent id {bounded_repr(pid)}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, StorageType):
            raise CheckpointError(f"{self._source}: storage of unsupported type {bounded_repr(storage_type)}")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise CheckpointError(f"{self._source}: malformed storage reference {bounded_repr(pid)}")
        if key not in self._storages:
            name = f"{self._prefix}/data/{key}"
            try:
                info = self._archive.getinfo(name)
            except KeyError:
                raise CheckpointError(
                    f"{self._source}: storage {bounded_repr(name, 80)} is missing from the archive"
                ) from None
            itemsize = torch.empty((), dtype=storage_type.dtype).element_size()
            if info.file_size != numel * itemsize:  # checked from the zip directory, before inflating anything
                raise CheckpointError(
                    f"{self._source}: storage {bounded_repr(key, 80)} has {info.file_size} bytes, expected "
                    f"{numel} x {itemsize}"
                )
            raw = self._archive.read(info)
            if len(raw) != numel * itemsize:
                raise CheckpointError(f"{self._source}: storage {bounded_repr(key, 80)} is truncated")
            flat = torch.frombuffer(bytearray(raw), dtype=storage_type.dtype) if raw else torch.empty(
                0, dtype=storage_type.dtype)
            self._storages[key] = flat
        flat = self._storages[key]
        if flat.dtype != storage_type.dtype:
            raise CheckpointError(f"{self._source}: storage {key} is used with two dtypes")
        return flat

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any) -> torch.Tensor:
        return self._rebuild_tensor_v2(storage, offset, size, stride, False, {})

    def _rebuild_tensor_v2(
        self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any, hooks: Any, metadata: Any = None
    ) -> torch.Tensor:
        if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
            raise CheckpointError(f"{self._source}: tensor rebuilt from a non-storage {type(storage).__name__}")
        size, stride = tuple(size), tuple(stride)
        ints = all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride))
        if not ints or len(size) != len(stride):
            raise CheckpointError(
                f"{self._source}: invalid tensor geometry size={bounded_repr(size)} stride={bounded_repr(stride)} "
                f"offset={bounded_repr(offset)}"
            )
        if hooks:
            raise CheckpointError(f"{self._source}: tensors with backward hooks are not supported")
        if math.prod(size) > 0:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= storage.numel():
                raise CheckpointError(
                    f"{self._source}: tensor (size {bounded_repr(size)}, stride {bounded_repr(stride)}, offset "
                    f"{offset}) reaches past its storage of {storage.numel()} elements"
                )
        tensor = storage.as_strided(size, stride, offset)
        check_tensor_data({"tensor": tensor}, self._source)  # no stride-0 (self-overlapping) tensors
        return tensor


def _rebuild_parameter(data: Any, requires_grad: Any, hooks: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise CheckpointError(f"parameter rebuilt from a non-tensor {type(data).__name__}")
    if hooks:
        raise CheckpointError("parameters with backward hooks are not supported")
    return data


def _rebuild_parameter_with_state(data: Any, requires_grad: Any, hooks: Any, state: Any) -> torch.Tensor:
    return _rebuild_parameter(data, requires_grad, hooks)


# ---------------------------------------------------------------------------------------------- reading
def read_torch_archive(path: str | os.PathLike) -> tuple[Any, set[str]]:
    """Unpickle a ``torch.save`` zip archive safely; return the object graph (stand-ins + tensors) and the
    names of the globals that became stand-ins.

    :raises ForbiddenGlobalError: a global outside the allow-list (nothing was run).
    :raises CheckpointError: not a torch zip archive, corrupt, or big-endian.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GenRL checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a torch zip checkpoint (legacy tar/pickle torch files are not supported)")
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip_members(path, archive)  # no member inflates past the file's own size
            pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pkl) != 1:
                raise CheckpointError(f"{path}: expected one <prefix>/data.pkl in the archive, found {bounded_repr(pkl)}")
            prefix = pkl[0].split("/")[0]
            order = f"{prefix}/byteorder"
            if order in archive.namelist() and archive.read(order).strip() != b"little":
                raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
            if sys.byteorder != "little":
                raise CheckpointError("loading official checkpoints needs a little-endian machine")
            unpickler = OfficialUnpickler(io.BytesIO(archive.read(pkl[0])), archive, prefix, str(path))
            try:
                obj = unpickler.load()
            except CheckpointError:
                raise
            except Exception as err:  # noqa: BLE001 - any failure inside the pickle stream is corruption
                raise CheckpointError(f"{path}: corrupt pickle in {pkl[0]} ({describe_error(err)})") from err
            return obj, unpickler.stand_ins
    except zipfile.BadZipFile as err:
        raise CheckpointError(f"{path}: corrupt zip archive ({describe_error(err)})") from err


def _is_module(obj: Any) -> bool:
    return isinstance(obj, PickledObject) and isinstance(obj.attributes.get("_modules"), dict)


#: Limits of the module tree walked in a pickled agent (the reference agent has a few hundred modules, at
#: most ~10 levels deep); a tree of shared subtrees would otherwise be walked an exponential number of times.
MAX_MODULES, MAX_MODULE_DEPTH = 100_000, 64


def module_state_dict(obj: PickledObject, prefix: str = "", _visits: Optional[list[int]] = None
                      ) -> dict[str, torch.Tensor]:
    """The flat state dict of a pickled ``nn.Module`` stand-in (parameters, persistent buffers, children)."""
    visits = _visits if _visits is not None else [0]
    visits[0] += 1
    if visits[0] > MAX_MODULES or prefix.count(".") > MAX_MODULE_DEPTH:
        raise CheckpointError(
            f"the pickled agent's module tree has more than {MAX_MODULES} modules or {MAX_MODULE_DEPTH} levels"
        )
    attrs = obj.attributes
    out: dict[str, torch.Tensor] = {}
    non_persistent = attrs.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, value in (attrs.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(value, torch.Tensor) or not isinstance(name, str):
                raise CheckpointError(
                    f"{prefix}{bounded_repr(name, 80)}: expected a tensor, got {type(value).__name__}"
                )
            out[prefix + name] = value
    for name, child in attrs["_modules"].items():
        if child is None:
            continue
        if not _is_module(child) or not isinstance(name, str):
            raise CheckpointError(f"{prefix}{bounded_repr(name, 80)}: expected a module, got {bounded_repr(child)}")
        out.update(module_state_dict(child, f"{prefix}{name}.", visits))
    return out


def find_agent(obj: Any, source: str = "<checkpoint>") -> PickledObject:
    """The ``GenRLAgent`` stand-in: the object itself, or the ``agent`` entry of a ``train.py`` snapshot."""
    if isinstance(obj, Mapping) and "agent" in obj:
        obj = obj["agent"]
    if not _is_module(obj):
        raise CheckpointError(f"{source}: expected a pickled GenRL agent (nn.Module), got {bounded_repr(obj)}")
    if "wm" not in obj.attributes["_modules"]:
        raise CheckpointError(f"{source}: the pickled {bounded_repr(obj)} has no world model 'wm'")
    return obj


# ---------------------------------------------------------------------------------------------- key map
_WB = r"(weight|bias)"
_RSSM_RULES: list[tuple[str, str]] = [
    (rf"_img_in\.0\.{_WB}", r"img_in.0.\1"),
    (rf"_img_in\.1\._layer\.{_WB}", r"img_in.1.\1"),
    (r"_cell\._layer\.weight", "gru.linear.weight"),
    (rf"_cell\._norm\.{_WB}", r"gru.norm.\1"),
    (rf"_ensemble_img_out\.0\.0\.{_WB}", r"prior_net.hidden.0.0.\1"),
    (rf"_ensemble_img_out\.0\.1\._layer\.{_WB}", r"prior_net.hidden.0.1.\1"),
    (rf"_ensemble_img_dist\.0\.{_WB}", r"prior_net.out.\1"),
    (rf"_obs_out\.0\.{_WB}", r"post_net.hidden.0.0.\1"),
    (rf"_obs_out\.1\._layer\.{_WB}", r"post_net.hidden.0.1.\1"),
    (rf"_obs_dist\.{_WB}", r"post_net.out.\1"),
]
#: (reference key regex, our key) in order; targets start with ``world_model.`` or ``connector.``.
KEY_MAP: list[tuple[str, str]] = (
    [(rf"wm\.encoder\._conv_model\.(\d+)\.(?:norm\.)?{_WB}", r"world_model.encoder.net.\1.\2")]
    + [(rf"wm\.rssm\.{a}", rf"world_model.rssm.{b}") for a, b in _RSSM_RULES]
    + [
        (rf"wm\.heads\.decoder\._conv_in\.0\.{_WB}", r"world_model.decoder.linear.\1"),
        (rf"wm\.heads\.decoder\._conv_model\.(\d+)\.(?:norm\.)?{_WB}", r"world_model.decoder.net.\1.\2"),
        (rf"wm\.heads\.reward\.dense(\d+)\.{_WB}", r"world_model.reward_head.mlp.hidden.\1.0.\2"),
        (rf"wm\.heads\.reward\.norm(\d+)\._layer\.{_WB}", r"world_model.reward_head.mlp.hidden.\1.1.\2"),
        (rf"wm\.heads\.reward\._out\._out\.{_WB}", r"world_model.reward_head.mlp.out.\1"),
    ]
    + [(rf"wm\.connector\.{a}", rf"connector.rssm.{b}") for a, b in _RSSM_RULES]
    + [
        (rf"wm\.connector\.initial_state_pred\.0\.{_WB}", r"connector.initial_mlp.hidden.0.0.\1"),
        (rf"wm\.connector\.initial_state_pred\.1\._layer\.{_WB}", r"connector.initial_mlp.hidden.0.1.\1"),
        (rf"wm\.connector\.initial_state_pred\.3\.{_WB}", r"connector.initial_mlp.hidden.1.0.\1"),
        (rf"wm\.connector\.initial_state_pred\.4\._layer\.{_WB}", r"connector.initial_mlp.hidden.1.1.\1"),
        (rf"wm\.connector\.initial_state_pred\.6\.{_WB}", r"connector.initial_mlp.out.\1"),
        (rf"wm\.connector\.aligner\.(down|mid|up)\.(\d+)\.layer\.{_WB}", r"connector.aligner.\1.\2.linear.\3"),
        (rf"wm\.connector\.aligner\.(down|mid|up)\.(\d+)\.norm_layer\._layer\.{_WB}",
         r"connector.aligner.\1.\2.norm.\3"),
        (rf"wm\.connector\.aligner\.(down|mid|up)\.(\d+)\.res_proj\.{_WB}", r"connector.aligner.\1.\2.proj.\3"),
    ]
)
_COMPILED = [(re.compile(rf"^{a}$"), b) for a, b in KEY_MAP]
#: reference subtrees that are not part of the MFWM (the untrained acting actor-critic).
SKIPPED_PREFIXES = ("_acting_behavior.", "_imag_behavior.")


def map_keys(
    reference: Mapping[str, torch.Tensor], source: str = "<checkpoint>"
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename reference keys with :data:`KEY_MAP`.

    :return: our keys (``world_model.*``/``connector.*``) -> tensors, and the skipped reference keys.
    :raises CheckpointError: a reference key that is neither mapped nor in :data:`SKIPPED_PREFIXES`.
    """
    mapped: dict[str, torch.Tensor] = {}
    skipped: list[str] = []
    unknown: list[str] = []
    for key, value in reference.items():
        if key.startswith(SKIPPED_PREFIXES):
            skipped.append(key)
            continue
        for pattern, target in _COMPILED:
            if pattern.match(key):
                mapped[pattern.sub(target, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"{source}: reference keys with no mapping onto vpt-gym's modules: {bounded_repr(unknown, 400)}")
    return mapped, skipped


# ---------------------------------------------------------------------------------------------- configs
def _agent_rssm_config(agent: PickledObject) -> dict[str, Any]:
    """``cfg.rssm`` of the pickled agent as plain data, when it is a plain dict or an omegaconf DictConfig."""
    cfg = agent.attributes.get("cfg")
    rssm = _config_get(cfg, "rssm")
    return {k: _config_get(rssm, k) for k in ("stoch", "discrete")} if rssm is not None else {}


def _config_get(cfg: Any, key: str) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(key)
    if isinstance(cfg, PickledObject):  # omegaconf DictConfig: __dict__["_content"][key] is a node
        content = cfg.attributes.get("_content")
        node = content.get(key) if isinstance(content, Mapping) else None
        if isinstance(node, PickledObject) and "_content" not in node.attributes:
            return node.attributes.get("_val")
        return node
    return None


def _split_stoch(
    stoch_dim: int, hint: Mapping[str, Any], stoch: Optional[int], classes: Optional[int]
) -> tuple[int, int]:
    stoch = stoch or (hint.get("stoch") if isinstance(hint.get("stoch"), int) else None)
    classes = classes or (hint.get("discrete") if isinstance(hint.get("discrete"), int) else None)
    if stoch is None and classes is None:
        root = math.isqrt(stoch_dim)
        if root * root != stoch_dim:
            raise CheckpointError(f"cannot infer stoch x classes from {stoch_dim}; pass stoch= and classes=")
        stoch = classes = root
    stoch = stoch or stoch_dim // classes
    classes = classes or stoch_dim // stoch
    if stoch * classes != stoch_dim:
        raise CheckpointError(f"stoch {stoch} x classes {classes} != latent size {stoch_dim} in the checkpoint")
    return stoch, classes


def infer_configs(
    mapped: Mapping[str, torch.Tensor], hint: Mapping[str, Any] = {}, stoch: Optional[int] = None,
    classes: Optional[int] = None,
) -> tuple[WorldModelConfig, Optional[ConnectorConfig]]:
    """World-model and connector configs from the (mapped) tensor shapes."""
    def shape(key: str) -> tuple[int, ...]:
        if key not in mapped:
            raise CheckpointError(f"checkpoint lacks {key} (mapped name)")
        return tuple(mapped[key].shape)

    stoch_dim = shape("world_model.rssm.prior_net.out.weight")[0]
    s, c = _split_stoch(stoch_dim, hint, stoch, classes)
    reward_layers = len({k.split(".")[4] for k in mapped if k.startswith("world_model.reward_head.mlp.hidden.")})
    wm = replace(
        WorldModelConfig.official(action_dim=shape("world_model.rssm.img_in.0.weight")[1] - stoch_dim),
        cnn_depth=shape("world_model.encoder.net.0.weight")[0],
        deter=shape("world_model.rssm.gru.norm.weight")[0] // 3,
        hidden=shape("world_model.rssm.img_in.0.weight")[0],
        stoch=s, classes=c, reward_layers=reward_layers,
        reward_units=shape("world_model.reward_head.mlp.hidden.0.0.weight")[0],
        reward_bins=shape("world_model.reward_head.mlp.out.weight")[0],
    )
    if "connector.rssm.img_in.0.weight" not in mapped:
        return wm, None
    embed_dim = shape("connector.rssm.img_in.0.weight")[1] - stoch_dim - REFERENCE_N_FRAMES
    conn = ConnectorConfig.for_world_model(
        wm, embed_dim=embed_dim, n_frames=REFERENCE_N_FRAMES,
        aligner_bottleneck=shape("connector.aligner.mid.0.linear.weight")[0],
    )
    return wm, conn


# ---------------------------------------------------------------------------------------------- public API
@dataclass
class OfficialGenRL:
    """What a released GenRL checkpoint holds, as vpt-gym modules.

    :param world_model: the MFWM world model (encoder, RSSM, decoder, reward head).
    :param connector: connector + aligner (None if the file has none).
    :param step: ``_global_step`` of a ``train.py`` snapshot (None for a bare agent).
    :param skipped: reference keys not loaded (the untrained acting actor-critic).
    :param stand_ins: the reference/library classes that were replaced by inert stand-ins.
    """

    world_model: WorldModel
    connector: Optional[Connector]
    step: Optional[int] = None
    skipped: list[str] = field(default_factory=list)
    stand_ins: set[str] = field(default_factory=set)


def reference_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], PickledObject, Any, set[str]]:
    """The agent's flat reference state dict, its stand-in, the unpickled top object and the stand-in names."""
    top, stand_ins = read_torch_archive(path)
    agent = find_agent(top, str(path))
    return module_state_dict(agent), agent, top, stand_ins


def load_official_genrl(
    path: str | os.PathLike, stoch: Optional[int] = None, classes: Optional[int] = None
) -> OfficialGenRL:
    """Load a released GenRL checkpoint (``torch.save`` of a ``GenRLAgent`` or a snapshot dict) safely.

    :param path: the ``.pt`` file.
    :param stoch: number of categorical latents, if it cannot be read from the pickled config.
    :param classes: classes per latent, likewise.
    :raises ForbiddenGlobalError: the pickle references a global outside the allow-list (nothing ran).
    :raises CheckpointError: corrupt archive, unmapped keys, missing keys or shape mismatches.
    """
    reference, agent, top, stand_ins = reference_state_dict(path)
    mapped, skipped = map_keys(reference, str(path))
    check_tensor_data(mapped, str(path))  # the tensors we build and copy are backed by data in the file
    wm_config, conn_config = infer_configs(mapped, _agent_rssm_config(agent), stoch, classes)
    _check_part(lambda: WorldModel(wm_config), mapped, "world_model.", str(path))
    if conn_config is not None:
        _check_part(lambda: Connector(conn_config), mapped, "connector.", str(path))
    world_model = WorldModel(wm_config)
    _load_part(world_model, mapped, "world_model.", str(path))
    connector = None
    if conn_config is not None:
        connector = Connector(conn_config)
        _load_part(connector, mapped, "connector.", str(path))
    step = top.get("_global_step") if isinstance(top, Mapping) else None
    return OfficialGenRL(world_model.eval(), connector.eval() if connector else None,
                         int(step) if isinstance(step, int) else None, skipped, stand_ins)


def _check_part(build: Any, mapped: Mapping[str, torch.Tensor], prefix: str, source: str) -> None:
    """The module built from the inferred config, on the meta device, must have exactly the file's tensors."""
    part = {k[len(prefix):]: v for k, v in mapped.items() if k.startswith(prefix)}
    check_module_against(build, part, f"{source} ({prefix.rstrip('.')})", check_dtypes=False)


def _load_part(module: torch.nn.Module, mapped: Mapping[str, torch.Tensor], prefix: str, source: str) -> None:
    part = {k[len(prefix):]: v for k, v in mapped.items() if k.startswith(prefix)}
    check_state_dict(module.state_dict(), part, f"{source} ({prefix.rstrip('.')})")
    module.load_state_dict({k: v.clone() for k, v in part.items()}, strict=True)


def iter_mapping() -> Iterator[tuple[str, str]]:
    """The documented key mapping as (reference regex, our key template) pairs."""
    yield from KEY_MAP

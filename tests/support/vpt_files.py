"""Builders of VPT checkpoint files in exactly the official formats, for tests.

The official ``.model`` pickles contain ``gym3.types`` objects. gym3 is not installed, so this module
defines tiny stand-in classes and registers them as ``gym3.types.{Discrete,TensorType,DictType}`` in
``sys.modules`` only while pickling: the bytes then name the same module/class as the real files.
"""

from __future__ import annotations

import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from agents.vpt.config import IDMConfig, PolicyConfig


class Discrete:
    def __init__(self, n: int, dtype_name: str = "int64") -> None:
        self.n = n
        self.dtype_name = dtype_name


class TensorType:
    def __init__(self, eltype: Any, shape: tuple) -> None:
        self.eltype = eltype
        self.shape = shape


class DictType:
    def __init__(self, **name2type: Any) -> None:
        self._n2t = name2type


@contextmanager
def fake_gym3() -> Iterator[None]:
    """Temporarily make ``gym3.types`` importable with the stand-ins above."""
    pkg, mod = types.ModuleType("gym3"), types.ModuleType("gym3.types")
    for cls in (Discrete, TensorType, DictType):
        cls.__module__ = "gym3.types"
        setattr(mod, cls.__name__, cls)
    pkg.types = mod
    saved = {k: sys.modules.get(k) for k in ("gym3", "gym3.types")}
    sys.modules.update({"gym3": pkg, "gym3.types": mod})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def model_file_dict(config: PolicyConfig | IDMConfig) -> dict[str, Any]:
    """The dict structure of an official ``.model`` (spec 4.1), with gym3 objects."""
    net_args, pi_opts = config.to_official()
    if isinstance(config, PolicyConfig):
        ac = DictType(
            camera=TensorType(Discrete(config.n_camera), (1,)), buttons=TensorType(Discrete(config.n_buttons), (1,))
        )
        fn, net_fn = "forc.model.rl.ppo.ppo_policy:create", "ypt.model.policy:MinecraftPolicy"
    else:
        ac = DictType(
            buttons=TensorType(Discrete(2), (config.n_buttons,)),
            camera=TensorType(Discrete(config.n_camera_bins), (2,)),
        )
        fn, net_fn = "ypt.model.idm:create", "ypt.model.policy:InverseActionNet"
    ob = DictType(img=TensorType(Discrete(256, "uint8"), (config.img_size, config.img_size, 3)))
    return {
        "version": 1,
        "model": {"function": fn, "args": {"net": {"function": net_fn, "args": net_args}, "pi_head_opts": pi_opts}},
        "extra_args": {"ac_space": ac, "ob_space": ob},
    }


def write_model_file(path: Path, config: PolicyConfig | IDMConfig, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    """Pickle :func:`model_file_dict` to ``path`` the way the official files are (plain ``pickle.dump``)."""
    with fake_gym3():
        data = model_file_dict(config)
        path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


def write_weights_file(path: Path, net: torch.nn.Module) -> Path:
    """``torch.save(net.state_dict())``, the official ``.weights`` format."""
    torch.save(net.state_dict(), str(path))
    return path


class _RunCommand:
    """Pickles to ``os.system(command)``: what a tampered checkpoint would run."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (self.command,))


def write_tampered_model_file(path: Path, config: PolicyConfig, marker: Path) -> Path:
    """A ``.model`` that is valid except that one kwarg, once unpickled by plain pickle, runs
    ``touch <marker>``."""
    with fake_gym3():
        data = model_file_dict(config)
        data["model"]["args"]["net"]["args"]["img_statistics"] = _RunCommand(f"touch {marker}")
        path.write_bytes(pickle.dumps(data))
    return path


def write_tampered_weights_file(path: Path, net: torch.nn.Module, marker: Path) -> Path:
    """A ``.weights`` whose state dict carries an object that runs ``touch <marker>`` when unpickled."""
    sd = dict(net.state_dict())
    sd["evil"] = _RunCommand(f"touch {marker}")  # type: ignore[assignment]
    torch.save(sd, str(path))
    return path

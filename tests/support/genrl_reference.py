"""Writes pickles with the structure of GenRL's released checkpoints (``torch.save`` of a whole
``GenRLAgent``), built from classes defined HERE under the reference's module and class names.

Nothing of the reference repository is used: :func:`reference_shapes` lists the reference agent's state-dict
keys and shapes for given sizes (checked once against the reference's own ``GenRLAgent(...).state_dict()``
at the small config, see the test module), and :func:`build_agent` grows a module tree with those keys whose
containers are instances of look-alike classes registered temporarily as ``agent.genrl.GenRLAgent``,
``agent.dreamer_utils.EnsembleRSSM``, ``agent.video_utils.VideoSSM``, ... so that the pickle names the same
globals as the real files. Besides the weights it holds what the real agent holds: an omegaconf-style
config, an optimiser wrapper with a torch Adam, a bound method (``decoder_input_fn``), a module-level
function (``connector_update_fn``) and numpy data.
"""
from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

REFERENCE_CLASSES = {
    "agent.genrl": ["GenRLAgent"],
    "agent.dreamer": ["WorldModel", "ActorCritic"],
    "agent.dreamer_utils": ["Encoder", "Decoder", "EnsembleRSSM", "GRUCell", "NormLayer", "ImgChLayerNorm", "MLP",
                            "DistLayer", "Optimizer"],
    "agent.video_utils": ["VideoSSM", "UNetDenoiser", "ResidualLinear"],
    "omegaconf.dictconfig": ["DictConfig"],
    "omegaconf.nodes": ["AnyNode"],
}


def reference_shapes(action_dim: int = 6, cnn_depth: int = 4, deter: int = 16, hidden: int = 16, stoch: int = 4,
                     classes: int = 4, reward_layers: int = 4, reward_units: int = 16, embed_dim: int = 8,
                     ac_units: int = 16, ac_layers: int = 4) -> dict[str, tuple[int, ...]]:
    """The reference ``GenRLAgent`` state-dict keys and shapes, in the reference's order."""
    s: dict[str, tuple[int, ...]] = {}
    d = cnn_depth
    chans = [3, d, 2 * d, 4 * d, 8 * d]
    for i in range(4):
        s[f"wm.encoder._conv_model.{3 * i}.weight"] = (chans[i + 1], chans[i], 4, 4)
        s[f"wm.encoder._conv_model.{3 * i}.bias"] = (chans[i + 1],)
        s[f"wm.encoder._conv_model.{3 * i + 1}.norm.weight"] = (chans[i + 1],)
        s[f"wm.encoder._conv_model.{3 * i + 1}.norm.bias"] = (chans[i + 1],)
    z = stoch * classes

    def rssm(prefix: str, act: int, posterior: bool) -> None:
        s[f"{prefix}._cell._layer.weight"] = (3 * deter, hidden + deter)
        s[f"{prefix}._cell._norm.weight"] = (3 * deter,)
        s[f"{prefix}._cell._norm.bias"] = (3 * deter,)
        s[f"{prefix}._ensemble_img_dist.0.weight"] = (z, hidden)
        s[f"{prefix}._ensemble_img_dist.0.bias"] = (z,)
        if posterior:
            s[f"{prefix}._obs_dist.weight"] = (z, hidden)
            s[f"{prefix}._obs_dist.bias"] = (z,)
        s[f"{prefix}._img_in.0.weight"] = (hidden, z + act)
        s[f"{prefix}._img_in.0.bias"] = (hidden,)
        s[f"{prefix}._img_in.1._layer.weight"] = (hidden,)
        s[f"{prefix}._img_in.1._layer.bias"] = (hidden,)
        s[f"{prefix}._ensemble_img_out.0.0.weight"] = (hidden, deter)
        s[f"{prefix}._ensemble_img_out.0.0.bias"] = (hidden,)
        s[f"{prefix}._ensemble_img_out.0.1._layer.weight"] = (hidden,)
        s[f"{prefix}._ensemble_img_out.0.1._layer.bias"] = (hidden,)
        if posterior:
            s[f"{prefix}._obs_out.0.weight"] = (hidden, 32 * d)
            s[f"{prefix}._obs_out.0.bias"] = (hidden,)
            s[f"{prefix}._obs_out.1._layer.weight"] = (hidden,)
            s[f"{prefix}._obs_out.1._layer.bias"] = (hidden,)

    rssm("wm.rssm", action_dim, True)
    s["wm.heads.decoder._conv_in.0.weight"] = (32 * d, z)
    s["wm.heads.decoder._conv_in.0.bias"] = (32 * d,)
    dchans = [32 * d, 4 * d, 2 * d, d, 3]
    for i, k in enumerate([5, 5, 6, 6]):
        s[f"wm.heads.decoder._conv_model.{3 * i}.weight"] = (dchans[i], dchans[i + 1], k, k)
        s[f"wm.heads.decoder._conv_model.{3 * i}.bias"] = (dchans[i + 1],)
        if i < 3:
            s[f"wm.heads.decoder._conv_model.{3 * i + 1}.norm.weight"] = (dchans[i + 1],)
            s[f"wm.heads.decoder._conv_model.{3 * i + 1}.norm.bias"] = (dchans[i + 1],)

    def mlp(prefix: str, inp: int, layers: int, units: int, out: int, std: bool = False) -> None:
        for i in range(layers):
            s[f"{prefix}.dense{i}.weight"] = (units, inp if i == 0 else units)
            s[f"{prefix}.dense{i}.bias"] = (units,)
            s[f"{prefix}.norm{i}._layer.weight"] = (units,)
            s[f"{prefix}.norm{i}._layer.bias"] = (units,)
        s[f"{prefix}._out._out.weight"] = (out, units)
        s[f"{prefix}._out._out.bias"] = (out,)
        if std:
            s[f"{prefix}._out._std.weight"] = (out, units)
            s[f"{prefix}._out._std.bias"] = (out,)

    feat = deter + z
    mlp("wm.heads.reward", feat, reward_layers, reward_units, 255)
    rssm("wm.connector", embed_dim + 8, False)
    e, b = embed_dim, embed_dim // 2
    aligner_layers = [("down", 0, (e, e), True), ("down", 1, (e, b), True), ("mid", 0, (b, b), True),
                      ("mid", 1, (b, b), True), ("up", 0, (2 * b, e), False), ("up", 1, (2 * e, e), True)]
    for part, i, (i_dim, o_dim), norm in aligner_layers:
        p = f"wm.connector.aligner.{part}.{i}"
        if norm:
            s[f"{p}.norm_layer._layer.weight"] = (o_dim,)
            s[f"{p}.norm_layer._layer.bias"] = (o_dim,)
        s[f"{p}.layer.weight"] = (o_dim, i_dim)
        s[f"{p}.layer.bias"] = (o_dim,)
        if i_dim != o_dim:
            s[f"{p}.res_proj.weight"] = (o_dim, i_dim)
            s[f"{p}.res_proj.bias"] = (o_dim,)
    for idx, (o_dim, i_dim) in {0: (hidden, e + 8), 3: (hidden, hidden), 6: (deter, hidden)}.items():
        s[f"wm.connector.initial_state_pred.{idx}.weight"] = (o_dim, i_dim)
        s[f"wm.connector.initial_state_pred.{idx}.bias"] = (o_dim,)
        if idx < 6:
            s[f"wm.connector.initial_state_pred.{idx + 1}._layer.weight"] = (o_dim,)
            s[f"wm.connector.initial_state_pred.{idx + 1}._layer.bias"] = (o_dim,)
    s["_acting_behavior.ema_vals"] = (2,)
    mlp("_acting_behavior.actor", feat, ac_layers, ac_units, action_dim, std=True)
    mlp("_acting_behavior.critic", feat, ac_layers, ac_units, 255)
    mlp("_acting_behavior._target_critic", feat, ac_layers, ac_units, 255)
    return s


def _container_class(path: str, classes: dict[str, type]) -> type:
    last = path.rsplit(".", 1)[-1]
    named = {"": "GenRLAgent", "wm": "WorldModel", "encoder": "Encoder", "rssm": "EnsembleRSSM", "_cell": "GRUCell",
             "decoder": "Decoder", "reward": "MLP", "connector": "VideoSSM", "aligner": "UNetDenoiser",
             "_acting_behavior": "ActorCritic", "actor": "MLP", "critic": "MLP", "_target_critic": "MLP",
             "_out": "DistLayer", "norm_layer": "NormLayer"}
    if path in named or last in named:
        return classes[named.get(path, named.get(last))]
    if last == "heads":
        return nn.ModuleDict
    if last in ("_ensemble_img_dist", "_ensemble_img_out", "down", "mid", "up"):
        return nn.ModuleList
    parent = path.rsplit(".", 2)[-2] if "." in path else ""
    if parent in ("down", "mid", "up"):
        return classes["ResidualLinear"]
    if last.startswith("norm") or (last.isdigit() and parent in ("_img_in", "initial_state_pred")) \
            or (last.isdigit() and parent == "0"):
        return classes["NormLayer"]
    if last.isdigit() and parent == "_conv_model":
        return classes["ImgChLayerNorm"]
    return nn.Sequential


def _leaf(path: str, params: dict[str, tuple[int, ...]]) -> nn.Module:
    w = params.get("weight")
    if w is None:
        raise ValueError(path)
    if len(w) == 4:
        cls = nn.ConvTranspose2d if ".decoder." in path else nn.Conv2d
        i, o = (w[0], w[1]) if cls is nn.ConvTranspose2d else (w[1], w[0])
        return cls(i, o, w[2], 2)
    if len(w) == 2:
        return nn.Linear(w[1], w[0], bias="bias" in params)
    return nn.LayerNorm(w[0])


@contextlib.contextmanager
def reference_modules() -> Iterator[dict[str, type]]:
    """Temporarily register look-alike classes under the reference's module names (for pickling)."""
    classes: dict[str, type] = {}
    saved = {}
    for module, names in REFERENCE_CLASSES.items():
        mod = types.ModuleType(module)
        for name in names:
            base = nn.Module if module.startswith("agent") and name not in ("Optimizer",) else object
            body: dict[str, Any] = {"__module__": module}
            if base is nn.Module:
                body["__init__"] = _module_init
                body["get_stoch"] = get_stoch
            cls = type(name, (base,), body)
            setattr(mod, name, cls)
            classes[name] = cls
        def connector_update_fn(*args: Any) -> None:
            return None
        connector_update_fn.__module__ = module
        connector_update_fn.__qualname__ = "connector_update_fn"
        mod.connector_update_fn = connector_update_fn
        classes[f"{module}.connector_update_fn"] = connector_update_fn  # type: ignore[assignment]
        for parent in _parents(module):
            saved.setdefault(parent, sys.modules.get(parent))
            sys.modules.setdefault(parent, types.ModuleType(parent))
        saved.setdefault(module, sys.modules.get(module))
        sys.modules[module] = mod
    try:
        yield classes
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def _module_init(self: nn.Module) -> None:
    nn.Module.__init__(self)


def get_stoch(self: nn.Module, state: Any = None) -> Any:
    return state


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def build_agent(classes: dict[str, type], shapes: dict[str, tuple[int, ...]], seed: int = 0,
                stoch: int = 4, classes_per: int = 4) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """Grow the reference-structured agent; return it and its state dict (random values)."""
    gen = torch.Generator().manual_seed(seed)
    leaves: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        path, name = key.rsplit(".", 1)
        leaves.setdefault(path, {})[name] = shape
    root = classes["GenRLAgent"]()
    nodes: dict[str, nn.Module] = {"": root}

    def node(path: str) -> nn.Module:
        if path in nodes:
            return nodes[path]
        parent_path, _, name = path.rpartition(".")
        parent = node(parent_path)
        if path in leaves and "weight" in leaves[path]:
            child = _leaf(path, leaves[path])
        else:
            child = _container_class(path, classes)()
        if isinstance(parent, nn.Sequential) and name.isdigit():
            while len(parent) < int(name):
                parent.append(nn.SiLU())
        if isinstance(parent, (nn.Sequential, nn.ModuleList)) and name.isdigit():
            parent.append(child)
        else:
            parent.add_module(name, child)
        nodes[path] = child
        return child

    for key, shape in shapes.items():
        path, name = key.rsplit(".", 1)
        owner = node(path) if path in leaves and "weight" in leaves[path] else node(path)
        if not hasattr(owner, name) or getattr(owner, name) is None or name == "ema_vals":
            owner.register_buffer(name, torch.zeros(shape))
    with torch.no_grad():
        for value in root.state_dict().values():
            value.copy_(torch.randn(value.shape, generator=gen))
    # non-tensor content of the real agent object
    dict_config, any_node = classes["DictConfig"], classes["AnyNode"]
    def cfg_node(value: Any) -> Any:
        n = any_node(); n._val = value; n._metadata = None
        return n
    rssm_cfg = dict_config(); rssm_cfg._content = {"stoch": cfg_node(stoch), "discrete": cfg_node(classes_per),
                                                   "deter": cfg_node(16)}
    cfg = dict_config(); cfg._content = {"rssm": rssm_cfg, "device": cfg_node("cuda:0")}
    root.cfg = cfg
    root.n_frames, root.viclip_emb_dim = 8, shapes["wm.connector._img_in.0.weight"][1] - stoch * classes_per - 8
    wm = nodes["wm"]
    opt = classes["Optimizer"]()
    opt._opt = torch.optim.Adam(wm.parameters(), lr=1e-4)
    wm.model_opt = opt
    wm.decoder_input_fn = nodes["wm.rssm"].get_stoch  # pickled as getattr(rssm, "get_stoch")
    wm.detached_update_fns = {"connector": classes["agent.genrl.connector_update_fn"]}
    wm.shapes = {"observation": (3, 64, 64)}
    root.obs_dtype = np.dtype("uint8")
    root.act_low = np.full(3, -1.0, np.float32)
    return root, {k: v.clone() for k, v in root.state_dict().items()}


def save_reference_checkpoint(path: Path, snapshot: bool = False, **sizes: Any) -> dict[str, torch.Tensor]:
    """``torch.save`` a reference-structured agent (or a train.py snapshot dict) to ``path``; return its state dict."""
    shapes = reference_shapes(**sizes)
    with reference_modules() as classes:
        agent, state = build_agent(classes, shapes, stoch=sizes.get("stoch", 4), classes_per=sizes.get("classes", 4))
        obj: Any = {"agent": agent, "_global_step": 500_000, "_global_episode": 998} if snapshot else agent
        torch.save(obj, path)
    return state

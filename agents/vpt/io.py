"""Loading and saving VPT networks: the official ``.model`` + ``.weights`` pair, our safetensors + JSON
format (with a model card, pushed to and pulled from the Hugging Face Hub), and :func:`from_pretrained`
for the released names (spec section 4; downloads in :mod:`agents.vpt.released`).

- ``.model``: a pickle of the constructor kwargs, read with the project's restricted unpickler (the gym3
  type objects become :mod:`agents.vpt.gym3_types` stand-ins; any other global is refused unexecuted).
- ``.weights``: a torch state dict, read with ``torch.load(weights_only=True)`` and loaded **strictly**:
  missing, unexpected and wrongly-shaped keys are listed in the error (the reference's ``strict=False``
  silently ignores them).
- Our format: a directory with ``config.json`` (the architecture, incl. ``"kind"``), ``model.safetensors``
  and a model card ``README.md``; :func:`push_to_hub` uploads it, ``from_pretrained("owner/name")`` reads
  it back through :mod:`agents.hub`.

Example::

    >>> import tempfile
    >>> from agents.vpt.io import load_pretrained, save_pretrained
    >>> from agents.vpt.policy import VPTPolicyNet
    >>> d = tempfile.mkdtemp()
    >>> _ = save_pretrained(VPTPolicyNet("tiny"), d)  # config.json, model.safetensors, README.md
    >>> type(load_pretrained(d)).__name__
    'VPTPolicyNet'
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agents.checkpoints import (
    CheckpointError,
    bounded_repr,
    check_module_against,
    describe_error,
    PathLike,
    load_json,
    load_safetensors,
    load_state_dict_strict,
    load_torch_state_dict,
    read_safetensors_header,
    restricted_load,
    save_json,
    save_safetensors,
)
from agents.hub import download_folder, is_repo_id, push_folder_to_hub
from agents.model_card import ModelCardInfo
from agents.vpt.config import IDMConfig, PolicyConfig
from agents.vpt.gym3_types import MODEL_FILE_GLOBALS, DictType, TensorType
from agents.vpt.idm import IDMNetwork
from agents.vpt.policy import VPTPolicyNet
from agents.vpt.released import RELEASED, fetch_released

VPTNetwork = VPTPolicyNet | IDMNetwork

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


# --------------------------------------------------------------------------------------------- .model


def read_model_file(path: PathLike) -> dict[str, Any]:
    """Read an official ``.model`` pickle safely and check its structure.

    :return: the pickled dict (gym3 objects as :mod:`agents.vpt.gym3_types` stand-ins).
    """
    data = restricted_load(path, MODEL_FILE_GLOBALS)
    try:
        net_args = data["model"]["args"]["net"]["args"]
        pi_opts = data["model"]["args"].get("pi_head_opts", {})
    except (TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: not a VPT .model file: no model.args.net.args ({describe_error(e)})") from e
    if not isinstance(net_args, dict) or not isinstance(pi_opts, dict):
        raise CheckpointError(f"{path}: model.args.net.args / pi_head_opts must be dicts")
    return data


def config_from_model_file(path: PathLike) -> PolicyConfig | IDMConfig:
    """The architecture described by an official ``.model`` file (an IDM when it has ``conv3d_params``)."""
    data = read_model_file(path)
    args = data["model"]["args"]
    net_args, pi_opts = args["net"]["args"], args.get("pi_head_opts", {})
    try:
        if net_args.get("conv3d_params") is not None:
            config: PolicyConfig | IDMConfig = IDMConfig.from_official(net_args, pi_opts)
        else:
            config = PolicyConfig.from_official(net_args, pi_opts)
    except ValueError as e:
        raise CheckpointError(f"{path}: {describe_error(e, 400).partition(': ')[2]}") from e
    _check_action_space(data, config, path)
    return config


def _check_action_space(data: dict[str, Any], config: PolicyConfig | IDMConfig, path: PathLike) -> None:
    """If the file records ``extra_args.ac_space``, it must match the heads we build."""
    ac_space = (data.get("extra_args") or {}).get("ac_space") if isinstance(data.get("extra_args"), dict) else None
    if ac_space is None:
        return
    if isinstance(config, PolicyConfig):
        expected = {"buttons": ((1,), config.n_buttons), "camera": ((1,), config.n_camera)}
    else:
        expected = {"buttons": ((config.n_buttons,), 2), "camera": ((2,), config.n_camera_bins)}
    if not isinstance(ac_space, DictType):
        raise CheckpointError(f"{path}: extra_args.ac_space is {bounded_repr(ac_space)}, expected a gym3 DictType")
    got = {k: (v.shape, getattr(v.eltype, "n", None)) for k, v in ac_space.items() if isinstance(v, TensorType)}
    if got != expected:
        raise CheckpointError(f"{path}: action space {bounded_repr(got)} does not match the network's heads {expected}")


def _build(config: PolicyConfig | IDMConfig) -> VPTNetwork:
    return VPTPolicyNet(config) if isinstance(config, PolicyConfig) else IDMNetwork(config)


def load_official(model_file: PathLike, weights_file: PathLike, device: str | torch.device = "cpu") -> VPTNetwork:
    """Build the network an official ``.model`` describes and load its ``.weights`` strictly."""
    config = config_from_model_file(model_file)
    state = load_torch_state_dict(weights_file, map_location="cpu")
    # the architecture comes from the .model file: check it against the weights before allocating it
    net = check_module_against(lambda: _build(config), state, str(weights_file), check_dtypes=False)
    net = net.to_empty(device="cpu")
    load_state_dict_strict(net, state, source=str(weights_file))
    return net.to(device).eval()


def save_official_weights(net: nn.Module, path: PathLike) -> None:
    """Write ``net.state_dict()`` with ``torch.save``, as the official ``.weights`` are."""
    torch.save(net.state_dict(), str(path))


# ---------------------------------------------------------------------------------- our own format


def save_pretrained(
    net: VPTNetwork, directory: PathLike, card: ModelCardInfo | None = None, repo_id: str | None = None
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` + a model card ``README.md`` into ``directory``.

    :param net: a :class:`VPTPolicyNet` or :class:`IDMNetwork`.
    :param directory: created if needed.
    :param card: what the card says (task, training settings, evaluation results); without it the card
        says that no task was stated.
    :param repo_id: the Hub id the folder is meant for (shown in the card's loading example).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_json(d / CONFIG_FILE, net.config.to_dict())
    save_safetensors(d / WEIGHTS_FILE, net.state_dict(), metadata={"format": "pt", "kind": net.config.kind})
    _write_card(net, d, card, repo_id)
    return d


def _write_card(net: VPTNetwork, directory: Path, card: ModelCardInfo | None, repo_id: str | None) -> None:
    is_policy = isinstance(net, VPTPolicyNet)
    cls = "VPTPolicyNet" if is_policy else "IDMNetwork"
    what = "VPT policy" if is_policy else "VPT inverse dynamics model (IDM)"
    card = card or ModelCardInfo(task="Not stated (saved without a model card).")
    n_params = sum(p.numel() for p in net.parameters())
    architecture = f"Architecture: {what}, {n_params:,} parameters, `{CONFIG_FILE}` = {net.config.to_dict()}."
    card = replace(card, description=(card.description + "\n\n" if card.description else "") + architecture)
    source = repo_id or "<this folder or its Hub repo id>"
    card.write(directory, title=f"{what}: {repo_id or directory.name}",
               usage=f"from agents.vpt import {cls}\nnet = {cls}.from_pretrained({source!r})",
               files={CONFIG_FILE: "the architecture (JSON)", WEIGHTS_FILE: "the weights (safetensors)"},
               kind_tags=("vpt", "minecraft", "policy" if is_policy else "inverse-dynamics-model"))


def push_to_hub(
    net: VPTNetwork,
    repo_id: str,
    card: ModelCardInfo | None = None,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    api: Any = None,
) -> str:
    """:func:`save_pretrained` into a temporary folder and upload it to the Hub repo ``repo_id`` (created if
    needed); returns the commit URL. See :func:`agents.hub.push_folder_to_hub` for the arguments."""
    with tempfile.TemporaryDirectory(prefix="vpt-gym-push-") as tmp:
        save_pretrained(net, tmp, card, repo_id)
        return push_folder_to_hub(tmp, repo_id, private=private, token=token, commit_message=commit_message,
                                  api=api)


def config_from_dict(d: dict[str, Any]) -> PolicyConfig | IDMConfig:
    """A config from its JSON form (dispatching on ``"kind"``)."""
    kinds = {PolicyConfig.kind: PolicyConfig, IDMConfig.kind: IDMConfig}
    kind = d.get("kind")
    if kind not in kinds:
        raise CheckpointError(f"config kind {bounded_repr(kind)} is not one of {sorted(kinds)}")
    return kinds[kind].from_dict(d)


def load_pretrained(directory: PathLike, device: str | torch.device = "cpu") -> VPTNetwork:
    """Inverse of :func:`save_pretrained` (strict key check)."""
    d = Path(directory)
    try:
        config = config_from_dict(load_json(d / CONFIG_FILE))
    except ValueError as e:
        raise CheckpointError(f"{d / CONFIG_FILE}: {describe_error(e, 400).partition(': ')[2]}") from e
    # the architecture comes from config.json: check it against the weights file's header (shapes, dtypes,
    # sizes) before allocating anything
    specs, _ = read_safetensors_header(d / WEIGHTS_FILE)
    net = check_module_against(lambda: _build(config), specs, str(d / WEIGHTS_FILE)).to_empty(device="cpu")
    state = load_safetensors(d / WEIGHTS_FILE)
    load_state_dict_strict(net, state, source=str(d / WEIGHTS_FILE))
    return net.to(device).eval()


# ------------------------------------------------------------------------ released names, Hub repos


def from_pretrained(
    name_or_path: str | PathLike,
    cache_dir: PathLike | None = None,
    device: str | torch.device = "cpu",
    *,
    revision: str | None = None,
    sha256: Mapping[str, str] | None = None,
) -> VPTNetwork:
    """Load a VPT network from a released name, a directory, an official file pair, or a Hub repo.

    :param name_or_path: a name from :data:`RELEASED` (e.g. ``"foundation-model-1x"``, downloaded from
        OpenAI, see :mod:`agents.vpt.released`); a directory holding ``config.json`` + ``model.safetensors``
        or exactly one ``.model`` and one ``.weights``; a ``.weights`` file with a ``.model`` of the same stem
        beside it; or a Hub repo id ``"owner/name"`` written by :func:`push_to_hub`.
    :param cache_dir: cache for released files (default ``$VPT_GYM_CACHE`` or ``~/.cache/vpt-gym``) or, for a
        Hub repo, the Hub cache (default ``$HF_HUB_CACHE``).
    :param device: where to put the network.
    :param revision: a Hub repo's branch, tag or commit.
    :param sha256: expected sha256 of released files (see :func:`agents.vpt.released.fetch_released`).
    """
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in RELEASED and not path.exists():
        model_file, weights_file = fetch_released(name_or_path, cache_dir, sha256=sha256)
        return load_official(model_file, weights_file, device)
    if path.is_dir():
        if (path / CONFIG_FILE).is_file():
            return load_pretrained(path, device)
        models, weights = sorted(path.glob("*.model")), sorted(path.glob("*.weights"))
        if len(models) == 1 and len(weights) == 1:
            return load_official(models[0], weights[0], device)
        raise FileNotFoundError(
            f"{path}: expected {CONFIG_FILE} + {WEIGHTS_FILE}, or exactly one .model and one .weights "
            f"(found {len(models)} .model, {len(weights)} .weights)"
        )
    if path.suffix == ".weights" and path.is_file():
        model_file = path.with_suffix(".model")
        if not model_file.is_file():
            raise FileNotFoundError(
                f"{path}: no {model_file.name} beside it; use load_official(model_file, weights_file)"
            )
        return load_official(model_file, path, device)
    if is_repo_id(str(name_or_path)):
        folder = download_folder(str(name_or_path), [CONFIG_FILE, WEIGHTS_FILE], revision=revision,
                                 cache_dir=cache_dir)
        return load_pretrained(folder, device)
    raise FileNotFoundError(
        f"{name_or_path!r} is neither a released VPT name ({sorted(RELEASED)}), an existing checkpoint path, "
        "nor a Hub repo id 'owner/name'"
    )

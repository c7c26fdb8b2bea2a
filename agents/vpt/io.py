"""Loading and saving VPT networks: the official ``.model`` + ``.weights`` pair, our safetensors + JSON
format, and :func:`from_pretrained` for the released names (spec section 4).

- ``.model``: a pickle of the constructor kwargs, read with the project's restricted unpickler (the gym3
  type objects become :mod:`agents.vpt.gym3_types` stand-ins; any other global is refused unexecuted).
- ``.weights``: a torch state dict, read with ``torch.load(weights_only=True)`` and loaded **strictly**:
  missing, unexpected and wrongly-shaped keys are listed in the error (the reference's ``strict=False``
  silently ignores them).
- Our format: a directory with ``config.json`` (the architecture, incl. ``"kind"``) and ``model.safetensors``.

Example::

    >>> import tempfile
    >>> from agents.vpt.io import load_pretrained, save_pretrained
    >>> from agents.vpt.policy import VPTPolicyNet
    >>> d = tempfile.mkdtemp()
    >>> save_pretrained(VPTPolicyNet("tiny"), d)
    >>> type(load_pretrained(d)).__name__
    'VPTPolicyNet'
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
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
from agents.vpt.config import IDMConfig, PolicyConfig
from agents.vpt.gym3_types import MODEL_FILE_GLOBALS, DictType, TensorType
from agents.vpt.idm import IDMNetwork
from agents.vpt.policy import VPTPolicyNet

VPTNetwork = VPTPolicyNet | IDMNetwork

#: Where OpenAI hosts the released files (spec 4.3).
BASE_URL = "https://openaipublic.blob.core.windows.net/minecraft-rl/"
#: Cache layout, huggingface_hub style: ``<cache>/models--openai--Video-Pre-Training/snapshots/main/<file>``.
CACHE_REPO = "models--openai--Video-Pre-Training"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class ReleasedModel:
    """A released checkpoint: the ``.model`` and ``.weights`` paths relative to :data:`BASE_URL`.

    :param model_file: architecture file. :param weights_file: weights file.
    :param digests: known ``{relative path: "md5:<hex>" | "sha256:<hex>"}`` (checked after download).
    """

    model_file: str
    weights_file: str
    digests: tuple[tuple[str, str], ...] = ()


_2X_MODEL_DIGEST = (("models/2x.model", "md5:1290cde10558881d83814a42ef2bc102"),)  # spec 4.1

#: Released names (spec 4.3); every weights file is paired with the ``.model`` of its width.
RELEASED: dict[str, ReleasedModel] = {
    "foundation-model-1x": ReleasedModel("models/foundation-model-1x.model", "models/foundation-model-1x.weights"),
    "foundation-model-2x": ReleasedModel("models/2x.model", "models/foundation-model-2x.weights", _2X_MODEL_DIGEST),
    "foundation-model-3x": ReleasedModel("models/foundation-model-3x.model", "models/foundation-model-3x.weights"),
    "bc-house-3x": ReleasedModel("models/foundation-model-3x.model", "models/bc-house-3x.weights"),
    "bc-early-game-2x": ReleasedModel("models/2x.model", "models/bc-early-game-2x.weights", _2X_MODEL_DIGEST),
    "bc-early-game-3x": ReleasedModel("models/foundation-model-3x.model", "models/bc-early-game-3x.weights"),
    "rl-from-foundation-2x": ReleasedModel("models/2x.model", "models/rl-from-foundation-2x.weights", _2X_MODEL_DIGEST),
    "rl-from-house-2x": ReleasedModel("models/2x.model", "models/rl-from-house-2x.weights", _2X_MODEL_DIGEST),
    "rl-from-early-game-2x": ReleasedModel("models/2x.model", "models/rl-from-early-game-2x.weights", _2X_MODEL_DIGEST),
    "4x-idm": ReleasedModel("idm/4x_idm.model", "idm/4x_idm.weights"),
}


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


def save_pretrained(net: VPTNetwork, directory: PathLike) -> None:
    """Write ``config.json`` + ``model.safetensors`` into ``directory`` (created if needed)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_json(d / CONFIG_FILE, net.config.to_dict())
    save_safetensors(d / WEIGHTS_FILE, net.state_dict(), metadata={"format": "pt", "kind": net.config.kind})


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


# ----------------------------------------------------------------------------------- released names


def default_cache_dir() -> Path:
    """``$VPT_GYM_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("VPT_GYM_CACHE"):
        return Path(os.environ["VPT_GYM_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def cached_path(relative: str, cache_dir: PathLike | None = None) -> Path:
    """Where a released file lives in the cache."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / CACHE_REPO / "snapshots" / "main" / relative


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("VPT_GYM_OFFLINE", "HF_HUB_OFFLINE"))


def verify_digest(path: Path, digest: str) -> None:
    """Check ``"md5:<hex>"`` / ``"sha256:<hex>"``; on mismatch the file is left in place and an error raised."""
    algo, _, want = digest.partition(":")
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    if h.hexdigest() != want:
        raise CheckpointError(
            f"{path}: {algo} is {h.hexdigest()}, expected {want}; delete the file and download it again"
        )


def download(url: str, dest: Path, timeout: float = 30.0, chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest`` through ``dest.incomplete``, resuming a partial download with an HTTP
    Range request. Returns ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".incomplete")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - fixed https base URL
        status = getattr(response, "status", 200)
        mode = "ab" if have and status == 206 else "wb"  # server ignored the range: start over
        with open(part, mode) as f:
            while block := response.read(chunk):
                f.write(block)
    part.replace(dest)
    return dest


def fetch_released(name: str, cache_dir: PathLike | None = None, base_url: str = BASE_URL) -> tuple[Path, Path]:
    """Local paths of a released model's ``.model`` and ``.weights``, downloading what is missing.

    Offline (``VPT_GYM_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``) a missing file fails at once, naming the files
    to download and where to put them.
    """
    if name not in RELEASED:
        raise ValueError(f"unknown VPT model name {name!r}; released names: {sorted(RELEASED)}")
    entry = RELEASED[name]
    digests = dict(entry.digests)
    paths = []
    for rel in (entry.model_file, entry.weights_file):
        path = cached_path(rel, cache_dir)
        if not path.is_file():
            if _offline():
                files = "\n".join(
                    f"  {base_url}{r}\n    -> {cached_path(r, cache_dir)}"
                    for r in (entry.model_file, entry.weights_file)
                )
                raise FileNotFoundError(
                    f"VPT model {name!r} is not in the cache and downloads are disabled (offline). "
                    f"Download these files and put them here:\n{files}"
                )
            try:
                download(base_url + rel, path)
            except OSError as e:
                raise FileNotFoundError(
                    f"could not download {base_url}{rel} ({e}); download it manually to {path}"
                ) from e
            if rel in digests:
                verify_digest(path, digests[rel])
        paths.append(path)
    return paths[0], paths[1]


def from_pretrained(
    name_or_path: str | PathLike, cache_dir: PathLike | None = None, device: str | torch.device = "cpu"
) -> VPTNetwork:
    """Load a VPT network from a released name, a directory, or an official file pair.

    :param name_or_path: a name from :data:`RELEASED` (e.g. ``"foundation-model-1x"``); a directory holding
        ``config.json`` + ``model.safetensors`` or exactly one ``.model`` and one ``.weights``; or a
        ``.weights`` file with a ``.model`` of the same stem beside it.
    :param cache_dir: cache for released files (default :func:`default_cache_dir`).
    :param device: where to put the network.
    """
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in RELEASED and not path.exists():
        model_file, weights_file = fetch_released(name_or_path, cache_dir)
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
    raise FileNotFoundError(
        f"{name_or_path!r} is neither a released VPT name ({sorted(RELEASED)}) nor an existing checkpoint path"
    )

"""The small interface every vision-language model (VLM) backend implements, plus shared helpers.

A backend embeds k-frame video clips and (if it has a text tower) text prompts into one space, with
unit-norm rows::

    embed_video(frames)  # uint8 (N, k, H, W, 3) or (k, H, W, 3)  ->  float32 (N, dim)
    embed_text(prompts)  # str or list of str                     ->  float32 (N, dim)

Each backend applies its own model's preprocessing (resolution, mean/std normalisation, k). Image models
(CLIP, SigLIP) have k = 1; for longer clips they embed every frame and average the unit embeddings
(re-normalised), the usual image-VLM video baseline. Video models have a fixed k (their ``n_frames``).

Example::

    >>> import numpy as np
    >>> from agents.genrl.vlm import load_vlm
    >>> vlm = load_vlm("random-features", dim=32)
    >>> vlm.embed_video(np.zeros((2, vlm.n_frames, 64, 64, 3), np.uint8)).shape
    (2, 32)
"""
from __future__ import annotations

import abc
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from vpt_gym.prompt_text import has_visible_text


class NoTextTowerError(RuntimeError):
    """The backend has no text encoder, so text prompts cannot be embedded."""


class MissingWeightsError(FileNotFoundError):
    """A backend's weights/config files are not on this machine; the message lists them and where to put them."""


class VLM(abc.ABC):
    """A vision-language embedder with unit-norm outputs.

    Subclasses set :attr:`name`, :attr:`dim`, :attr:`n_frames`, :attr:`has_text` and implement
    :meth:`_embed_clips` (and :meth:`_embed_text` when ``has_text``).
    """

    #: registry name of the backend, e.g. ``"clip"``.
    name: str = "vlm"
    #: embedding size.
    dim: int = 0
    #: frames per clip the model consumes (1 for image models).
    n_frames: int = 1
    #: whether :meth:`embed_text` works.
    has_text: bool = True
    #: True for stand-ins that are not a pretrained VLM; reports must label results produced with them.
    is_stand_in: bool = False
    #: image models accept clips of any length and average per-frame embeddings.
    accepts_any_length: bool = False

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def embed_video(self, frames: Any, batch_size: int = 64) -> np.ndarray:
        """Embed k-frame clips.

        :param frames: uint8 array (N, k, H, W, 3) or one clip (k, H, W, 3), RGB. Video models need
            ``k == n_frames``; image models (``n_frames == 1``) accept any k and average the frames.
        :param batch_size: clips per forward pass.
        :return: float32 (N, dim), unit-norm rows.
        """
        clips = check_clips(frames, None if self.accepts_any_length else self.n_frames, self.name)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = [self._embed_clips(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]
        return _unit(torch.cat(out)).numpy().astype(np.float32)

    @torch.no_grad()
    def embed_text(self, prompts: str | Sequence[str]) -> np.ndarray:
        """Embed text prompts.

        :param prompts: one prompt or a list of non-empty prompts.
        :return: float32 (N, dim), unit-norm rows.
        :raises NoTextTowerError: if the backend has no text tower.
        """
        if not self.has_text:
            raise NoTextTowerError(self._no_text_message())
        texts = check_prompts(prompts)
        return _unit(self._embed_text(texts)).numpy().astype(np.float32)

    def embed_windows(self, frames: Any, batch_size: int = 64) -> np.ndarray:
        """Embed every window of ``n_frames`` consecutive frames of one video (stride 1).

        Row j embeds frames [j .. j + k - 1]. Backends may override this with a faster equivalent (frames
        shared by overlapping windows processed once); the values are those of :meth:`embed_video`.

        :param frames: uint8 (T, H, W, 3) with T >= ``n_frames``.
        :return: float32 (T - k + 1, dim).
        """
        video = check_clips(frames, None, self.name)
        if video.shape[0] != 1:
            raise ValueError(f"{self.name}: embed_windows takes one (T, H, W, 3) video, got {np.shape(frames)}")
        video = video[0]
        k = self.n_frames
        if video.shape[0] < k:
            raise ValueError(f"{self.name}: need at least {k} frames for one window, got {video.shape[0]}")
        windows = np.lib.stride_tricks.sliding_window_view(video, k, axis=0)  # (T-k+1, H, W, 3, k)
        out = []
        for start in range(0, windows.shape[0], batch_size):
            chunk = np.ascontiguousarray(np.moveaxis(windows[start : start + batch_size], -1, 1))
            out.append(self.embed_video(chunk, batch_size=batch_size))
        return np.concatenate(out)

    def embed_prompt_video(self, video: Any) -> np.ndarray:
        """Embed a video prompt of any length (spec section 2: GenRL's ``get_video_feat``), see :func:`prompt_clip`.

        :param video: uint8 (T, H, W, 3).
        :return: float32 (1, dim).
        """
        return self.embed_video(prompt_clip(video, self.n_frames)[None])

    def describe(self) -> dict[str, Any]:
        """JSON-able description (stored beside precomputed embeddings and in reports)."""
        return {"name": self.name, "dim": int(self.dim), "n_frames": int(self.n_frames),
                "has_text": bool(self.has_text), "is_stand_in": bool(self.is_stand_in)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, n_frames={self.n_frames})"

    # ------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def _embed_clips(self, clips: np.ndarray) -> torch.Tensor:
        """(B, k, H, W, 3) uint8 -> (B, dim) float tensor (need not be normalised)."""

    def _embed_text(self, prompts: list[str]) -> torch.Tensor:
        raise NoTextTowerError(self._no_text_message())

    def _no_text_message(self) -> str:
        return f"VLM backend {self.name!r} has no text tower; use a video prompt instead"


# ---------------------------------------------------------------------- validation helpers
def check_clips(frames: Any, n_frames: Optional[int], name: str = "vlm") -> np.ndarray:
    """Validate and batch clips: uint8 (N, k, H, W, 3) or (k, H, W, 3) -> (N, k, H, W, 3).

    :param n_frames: the required k, or None for any k >= 1.
    """
    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        raise TypeError(f"{name}: frames must be uint8 RGB, got dtype {arr.dtype}")
    if arr.ndim == 4:
        arr = arr[None]
    if arr.ndim != 5 or arr.shape[-1] != 3:
        raise ValueError(f"{name}: frames must have shape (N, k, H, W, 3) or (k, H, W, 3), got {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[2] < 1 or arr.shape[3] < 1:
        raise ValueError(f"{name}: frames must be non-empty, got shape {arr.shape}")
    if n_frames is not None and arr.shape[1] != n_frames:
        raise ValueError(f"{name}: clips must have k={n_frames} frames, got k={arr.shape[1]} (shape {arr.shape})")
    return arr


def check_prompts(prompts: str | Sequence[str], max_chars: int = 2000) -> list[str]:
    """One prompt or a list of prompts -> list of non-empty strings (clear errors otherwise)."""
    texts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not texts:
        raise ValueError("no prompts given (empty list)")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"prompt {i} must be a str, got {type(t).__name__}")
        if not has_visible_text(t):
            raise ValueError(f"prompt {i} is empty (only whitespace, zero-width or control characters)")
        if len(t) > max_chars:
            raise ValueError(f"prompt {i} has {len(t)} characters; at most {max_chars} are accepted")
    return texts


def prompt_clip(video: Any, n_frames: int) -> np.ndarray:
    """Turn a prompt video of any length into one ``n_frames`` clip as GenRL's ``get_video_feat`` does.

    Spec section 2 (for k = 8): a 1-frame input is repeated 8x, a 4-frame input 2x (each frame repeated in
    place, ``np.repeat``), then the video is subsampled with stride ``max(1, T // 128)`` and the first 8
    frames are kept. Generalised to any k: a T < k input with ``k % T == 0`` is repeated ``k // T`` times.

    :param video: uint8 (T, H, W, 3).
    :return: uint8 (n_frames, H, W, 3).
    """
    arr = check_clips(video, None, "prompt video")
    if arr.shape[0] != 1:
        raise ValueError(f"prompt video must be one (T, H, W, 3) array, got shape {np.shape(video)}")
    arr = arr[0]
    t = arr.shape[0]
    if t < n_frames and n_frames % t == 0:
        arr = np.repeat(arr, n_frames // t, axis=0)
    arr = arr[:: max(1, arr.shape[0] // 128)]
    if arr.shape[0] < n_frames:
        raise ValueError(
            f"prompt video has {t} frames; need at least {n_frames} (or a divisor of {n_frames}, which is repeated)"
        )
    return np.ascontiguousarray(arr[:n_frames])


def _unit(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    if not torch.isfinite(x).all():
        raise FloatingPointError("VLM produced non-finite embeddings")
    return F.normalize(x, dim=-1)


# ---------------------------------------------------------------------- image preprocessing
_RESAMPLE_MODES = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL codes used in HF processor configs


def preprocess_frames(
    frames: np.ndarray,
    size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    resample: int = 3,
    shortest_edge: Optional[int] = None,
) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised float (N, 3, h, w), as an HF image processor does.

    With ``shortest_edge`` the frames are resized so their short side has that length (aspect kept), then
    centre-cropped to ``size`` (CLIP / X-CLIP); without it they are resized to ``size`` directly (SigLIP).

    :param resample: PIL resample code from the processor config (2 bilinear, 3 bicubic, 0 nearest).
    """
    mode = _RESAMPLE_MODES.get(int(resample), "bicubic")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[-2:]
    if shortest_edge is not None:
        scale = shortest_edge / min(h, w)
        new = (max(shortest_edge, round(h * scale)), max(shortest_edge, round(w * scale)))
    else:
        new = size
    if (h, w) != tuple(new):
        kw = {"align_corners": False, "antialias": True} if mode != "nearest" else {}
        x = F.interpolate(x, size=new, mode=mode, **kw)
        if mode == "bicubic":
            x = x.clamp(0.0, 1.0)
    if shortest_edge is not None:
        top = (x.shape[-2] - size[0]) // 2
        left = (x.shape[-1] - size[1]) // 2
        x = x[..., top : top + size[0], left : left + size[1]]
    m = torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


# ---------------------------------------------------------------------- locating weights
#: what a VLM download fetches from a Hub repo: configs, tokenizer files and safetensors weights (not the
#: duplicate PyTorch / TensorFlow / Flax / ONNX weights many repos also hold).
HUB_PATTERNS = ("*.json", "*.txt", "*.model", "*.safetensors")


def resolve_model_dir(source: str | os.PathLike, backend: str, required: Sequence[Sequence[str]]) -> Path:
    """Find a model directory: a local path, or a Hub repo id (``huggingface_hub.snapshot_download`` of its
    configs, tokenizer and safetensors weights into the Hub cache; with ``HF_HUB_OFFLINE=1`` only the cache
    is read).

    :param source: a directory or a hub repo id such as ``"openai/clip-vit-base-patch32"``.
    :param backend: backend name for messages.
    :param required: groups of alternatives; each group needs one existing file, e.g.
        ``[("config.json",), ("model.safetensors", "pytorch_model.bin")]``.
    :raises MissingWeightsError: listing the missing files and where to put them.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        directory = path
    elif path.exists():
        raise MissingWeightsError(f"{backend}: {path} is a file; expected a model directory with {_files(required)}")
    else:
        from agents.hub import download_folder, hf_download_command, is_repo_id

        directory, why = None, "no such directory"
        if is_repo_id(str(source)):
            try:
                directory = download_folder(str(source), allow_patterns=HUB_PATTERNS)
            except FileNotFoundError as err:  # not cached offline, not on the Hub, or no network
                why = f"no such directory, and not available from the Hub: {err}"
        if directory is None:
            fetch = (f"run `{hf_download_command(str(source))}` on a machine with network access and copy the cache "
                     "here, or " if is_repo_id(str(source)) else "")
            raise MissingWeightsError(
                f"{backend}: weights for {str(source)!r} are not on this machine ({why}; the Hugging Face cache is "
                f"{_hf_cache()}). Needed files: {_files(required)}. {fetch.capitalize()}put them in a directory "
                "and pass its path."
            )
    missing = [group for group in required if not any((directory / f).is_file() for f in group)]
    if missing:
        raise MissingWeightsError(
            f"{backend}: {directory} lacks {_files(missing)} (needs {_files(required)}); save the model there "
            "with `save_pretrained` or download these files from its model page into that directory."
        )
    return directory


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path`` with a clear error."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read JSON {path}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _files(groups: Sequence[Sequence[str]]) -> str:
    return ", ".join(" or ".join(g) for g in groups)


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def _hf_cache() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(HF_HUB_CACHE)
    except Exception:  # noqa: BLE001
        return "~/.cache/huggingface/hub"

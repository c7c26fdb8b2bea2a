"""What the ``transformers`` backends (CLIP, SigLIP, X-CLIP) share: locating a model directory, reading its
image-processor constants, its tokenizer, and turning frames/prompts into model inputs.

``transformers`` is an optional extra (``pip install -e ".[vlm]"`` in the vpt-gym checkout); it is imported only here, on use.
The image preprocessing reads the model's own ``preprocessor_config.json`` (size, crop, resample, mean/std)
and applies it with torch ops (no torchvision, which cannot be installed next to this torch).
"""
from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np
import torch

from agents.genrl.vlm.base import VLM, preprocess_frames, read_json, resolve_model_dir
from vpt_gym.optional import import_optional

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "tokenizer.model")
PROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json")


def transformers_module() -> Any:
    """``import transformers`` or a :class:`~vpt_gym.optional.MissingDependency` naming the ``vlm`` extra."""
    return import_optional("transformers", "vlm")


class ImageConstants:
    """An HF image processor's preprocessing constants, read from its JSON config.

    :param config: the parsed ``preprocessor_config.json``.
    :param default_size: the model's image size when the config gives none.
    """

    def __init__(self, config: dict[str, Any], default_size: int) -> None:
        size = config.get("size", default_size)
        crop = config.get("crop_size")
        self.do_center_crop = bool(config.get("do_center_crop", crop is not None))
        self.shortest_edge: Optional[int] = None
        if isinstance(size, dict) and "shortest_edge" in size:
            self.shortest_edge = int(size["shortest_edge"])
            out = crop if (self.do_center_crop and crop is not None) else self.shortest_edge
        else:
            out = size
        self.size = _hw(out, default_size)
        if self.shortest_edge is not None and not self.do_center_crop:
            self.size = (self.shortest_edge, self.shortest_edge)
            self.shortest_edge = None
        self.mean = tuple(float(v) for v in config.get("image_mean", (0.5, 0.5, 0.5)))
        self.std = tuple(float(v) for v in config.get("image_std", (0.5, 0.5, 0.5)))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"image processor config has invalid image_mean/std: {self.mean} / {self.std}")
        self.resample = int(config.get("resample", 3))

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> (N, 3, h, w) normalised floats."""
        return preprocess_frames(frames, self.size, self.mean, self.std, self.resample, self.shortest_edge)


def _hw(value: Any, default: int) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return int(value["height"]), int(value["width"])
        if "shortest_edge" in value:
            return int(value["shortest_edge"]), int(value["shortest_edge"])
    return default, default


class HFBackend(VLM):
    """Base of the ``transformers`` backends: loads model, tokenizer and processor constants from a directory.

    :param source: a local directory or a hub repo id in the local HF cache (never downloaded).
    :param model_class: name of the ``transformers`` model class, e.g. ``"CLIPModel"``.
    :param device: torch device.
    """

    model_class = "PreTrainedModel"
    model_type = ""

    def __init__(self, source: str | os.PathLike, device: str | torch.device = "cpu") -> None:
        transformers = transformers_module()
        required = [("config.json",), WEIGHT_FILES, PROCESSOR_FILES, TOKENIZER_FILES]
        self.directory = resolve_model_dir(source, self.name, required)
        config = read_json(self.directory / "config.json")
        if config.get("model_type") != self.model_type:
            raise ValueError(
                f"{self.name}: {self.directory} holds a {config.get('model_type')!r} model, "
                f"expected {self.model_type!r}"
            )
        cls = getattr(transformers, self.model_class)
        self.model = cls.from_pretrained(str(self.directory), local_files_only=True).to(device).eval()
        self.device = torch.device(device)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.directory), local_files_only=True)
        proc = next(self.directory / f for f in PROCESSOR_FILES if (self.directory / f).is_file())
        self.image = ImageConstants(read_json(proc), self._vision_config().image_size)
        self.source = str(source)

    def _vision_config(self) -> Any:
        return self.model.config.vision_config

    def _text_max_length(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    def _tokenize(self, prompts: list[str], padding: str | bool) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer(
            prompts, padding=padding, truncation=True, max_length=self._text_max_length(), return_tensors="pt"
        )
        return {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"source": self.source, "image_size": list(self.image.size),
                                     "image_mean": list(self.image.mean), "image_std": list(self.image.std)}


def pooled(output: Any) -> torch.Tensor:
    """The embedding from a ``get_*_features`` result (a tensor in transformers 4, an output object in 5)."""
    if isinstance(output, torch.Tensor):
        return output
    value = getattr(output, "pooler_output", None)
    if value is None:
        raise TypeError(f"unexpected transformers output {type(output).__name__}: no pooler_output")
    return value


__all__ = ["HFBackend", "ImageConstants", "pooled", "transformers_module"]

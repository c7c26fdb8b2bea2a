"""SigLIP (image-language, k = 1) through ``transformers``' ``SiglipModel``; the paper's image baseline is SigLIP-B.

Preprocessing follows the model's processor config (SigLIP-B/16-224: resize to 224 x 224 without cropping,
bicubic, mean = std = 0.5). Text is padded to ``max_length`` (64) as SigLIP was trained (its text tower
pools the last position and ignores the attention mask). k-frame clips: per-frame unit embeddings averaged
and re-normalised, as in :mod:`agents.genrl.vlm.clip`.

Example (needs the weights)::

    vlm = SiglipBackend("google/siglip-base-patch16-224")
    vlm.embed_video(frames).shape   # (N, 768)
"""
from __future__ import annotations

import torch

from agents.genrl.vlm.clip import CLIPBackend
from agents.genrl.vlm.hf_model import pooled

DEFAULT_SOURCE = "google/siglip-base-patch16-224"


class SiglipBackend(CLIPBackend):
    """SigLIP image and text towers.

    :param source: model directory or hub repo id in the local cache (default ``google/siglip-base-patch16-224``).
    :param device: torch device.
    """

    name = "siglip"
    model_class = "SiglipModel"
    model_type = "siglip"
    text_padding = "max_length"

    def __init__(self, source: str = DEFAULT_SOURCE, device: str | torch.device = "cpu") -> None:
        super().__init__(source, device)

    def _init_dim(self) -> int:
        return int(self.model.config.vision_config.hidden_size)

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return pooled(self.model.get_image_features(pixel_values=pixels))

    def _embed_text(self, prompts: list[str]) -> torch.Tensor:
        tokens = self._tokenize(prompts, self.text_padding)
        tokens.pop("attention_mask", None)  # SigLIP's text tower is used without a mask (as in its processor)
        return pooled(self.model.get_text_features(**tokens)).float().cpu()

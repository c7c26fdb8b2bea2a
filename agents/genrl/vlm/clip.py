"""CLIP (image-language, k = 1) through ``transformers``' ``CLIPModel``.

Frames are resized (short side), centre-cropped and normalised with the model's own processor constants
(``preprocessor_config.json``; OpenAI CLIP: 224 px, bicubic, mean (0.4815, 0.4578, 0.4082), std (0.2686,
0.2613, 0.2758)). A k-frame clip is embedded frame by frame and the unit embeddings are averaged, then
re-normalised: the image-VLM video baseline (GenRL's paper compares against image VLMs with k = 1; with
k = 1 this is just the frame's embedding).

Example (needs the weights in a local directory or the HF cache)::

    vlm = CLIPBackend("openai/clip-vit-base-patch32")
    vlm.embed_text(["a walker running"]).shape   # (1, 512)
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from agents.genrl.vlm.hf_model import HFBackend, pooled

DEFAULT_SOURCE = "openai/clip-vit-base-patch32"


class CLIPBackend(HFBackend):
    """CLIP image and text towers.

    :param source: model directory or hub repo id in the local cache (default ``openai/clip-vit-base-patch32``).
    :param device: torch device.
    """

    name = "clip"
    model_class = "CLIPModel"
    model_type = "clip"
    n_frames = 1
    accepts_any_length = True
    text_padding: str | bool = True  # CLIP pools at the EOS token under a causal mask: padding does not matter

    def __init__(self, source: str = DEFAULT_SOURCE, device: str | torch.device = "cpu") -> None:
        super().__init__(source, device)
        self.dim = self._init_dim()

    def _init_dim(self) -> int:
        return int(self.model.config.projection_dim)

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return pooled(self.model.get_image_features(pixel_values=pixels))

    def _embed_clips(self, clips: np.ndarray) -> torch.Tensor:
        b, k = clips.shape[:2]
        pixels = self.image(clips.reshape(b * k, *clips.shape[2:])).to(self.device)
        feats = F.normalize(self._image_features(pixels).float(), dim=-1).reshape(b, k, -1)
        return feats.mean(1).cpu()

    def _embed_text(self, prompts: list[str]) -> torch.Tensor:
        tokens = self._tokenize(prompts, self.text_padding)
        return pooled(self.model.get_text_features(**tokens)).float().cpu()

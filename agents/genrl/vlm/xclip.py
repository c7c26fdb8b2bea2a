"""X-CLIP (video-language) through ``transformers``' ``XCLIPModel``.

A clip is ``n_frames`` frames (the config's ``vision_config.num_frames``, 8 for ``microsoft/xclip-base-patch32``),
each preprocessed with the model's processor constants (short side 224, centre crop, CLIP mean/std), fed as
(B, k, 3, H, W) through ``get_video_features`` (frame encoder, projection, multi-frame integration
transformer). Text uses ``get_text_features``: X-CLIP's video-specific prompt generator, which conditions
the text embedding on one particular video, is NOT applied, because this interface needs one embedding
per prompt that is independent of the video it is compared with.

Example (needs the weights)::

    vlm = XCLIPBackend("microsoft/xclip-base-patch32")
    vlm.embed_video(np.zeros((1, 8, 64, 64, 3), np.uint8)).shape   # (1, 512)
"""
from __future__ import annotations

import numpy as np
import torch

from agents.genrl.vlm.hf_model import HFBackend, pooled

DEFAULT_SOURCE = "microsoft/xclip-base-patch32"


class XCLIPBackend(HFBackend):
    """X-CLIP video and text towers.

    :param source: model directory or hub repo id in the local cache (default ``microsoft/xclip-base-patch32``).
    :param device: torch device.
    """

    name = "xclip"
    model_class = "XCLIPModel"
    model_type = "xclip"

    def __init__(self, source: str = DEFAULT_SOURCE, device: str | torch.device = "cpu") -> None:
        super().__init__(source, device)
        self.dim = int(self.model.config.projection_dim)
        self.n_frames = int(self.model.config.vision_config.num_frames)

    def _embed_clips(self, clips: np.ndarray) -> torch.Tensor:
        b, k = clips.shape[:2]
        pixels = self.image(clips.reshape(b * k, *clips.shape[2:]))
        pixels = pixels.reshape(b, k, *pixels.shape[1:]).to(self.device)
        return pooled(self.model.get_video_features(pixel_values=pixels)).float().cpu()

    def _embed_text(self, prompts: list[str]) -> torch.Tensor:
        tokens = self._tokenize(prompts, True)
        return pooled(self.model.get_text_features(**tokens)).float().cpu()

"""A tiny, deterministic stand-in for a vision-language model with the interface of
``agents.genrl.vlm.base`` (``embed_video``, ``embed_windows``, ``embed_text``, ``n_frames``, ``dim``, ``has_text``,
``is_stand_in``), for tests that must not depend on any real VLM backend.

Video clips (N, k, H, W, 3) uint8 are average-pooled to 8x8 RGB per frame, concatenated over the k frames,
centred, and projected by a fixed seeded Gaussian matrix, then L2-normalised: similar clips give similar
embeddings. Text is embedded by a hash-seeded random unit vector (only when ``has_text``).
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


class FakeVLM:
    """:param dim: embedding size. :param n_frames: clip length k. :param has_text: accept text prompts.
    :param seed: seed of the projection."""

    is_stand_in = True
    name = "fake-vlm"

    def __init__(self, dim: int = 16, n_frames: int = 8, has_text: bool = True, seed: int = 0) -> None:
        self.dim, self.n_frames, self.has_text = dim, n_frames, has_text
        g = torch.Generator().manual_seed(seed)
        self._proj = torch.randn(n_frames * 8 * 8 * 3, dim, generator=g)
        self.video_calls = 0

    def embed_video(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(frames))
        if x.dim() != 5 or x.shape[1] != self.n_frames or x.shape[-1] != 3 or x.dtype != torch.uint8:
            raise ValueError(f"FakeVLM.embed_video expects uint8 (N, {self.n_frames}, H, W, 3), got "
                             f"{x.dtype} {tuple(x.shape)}")
        self.video_calls += 1
        n, k, h, w, _ = x.shape
        x = x.float().div(255).permute(0, 1, 4, 2, 3).reshape(n * k, 3, h, w)
        x = F.adaptive_avg_pool2d(x, 8).reshape(n, -1)
        x = x - 0.5
        return F.normalize(x @ self._proj, dim=-1)

    def embed_windows(self, frames: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Row j embeds frames [j .. j + k - 1] of one (T, H, W, 3) video."""
        frames = np.asarray(frames)
        windows = np.lib.stride_tricks.sliding_window_view(frames, self.n_frames, axis=0)
        clips = np.ascontiguousarray(np.moveaxis(windows, -1, 1))
        return np.concatenate([self.embed_video(clips[i : i + batch_size]).numpy()
                               for i in range(0, len(clips), batch_size)])

    def embed_text(self, prompts: Sequence[str]) -> torch.Tensor:
        if not self.has_text:
            raise ValueError("FakeVLM(has_text=False) cannot embed text")
        out = []
        for p in prompts:
            seed = int(hashlib.sha256(p.encode()).hexdigest()[:8], 16)
            out.append(torch.randn(self.dim, generator=torch.Generator().manual_seed(seed)))
        return F.normalize(torch.stack(out), dim=-1)

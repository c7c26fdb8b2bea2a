"""``random-features``: an honest OFFLINE STAND-IN for a video-language model (not a pretrained VLM).

No pretrained vision-language model can be installed on machines without a model hub, so offline runs
(CI, the default benchmark suite) use this fixed, seeded random-feature video encoder. It is deterministic
(weights drawn from ``numpy.random.default_rng(seed)``, identical on every machine) and embeds k-frame
clips so that both appearance and motion matter:

1. every frame is area-downsampled to ``resolution`` x ``resolution`` RGB, scaled to [-0.5, 0.5] and
   centred per clip position (x_t);
2. appearance: a = mean_t tanh(W_a x_t + b_a), random features of the frames (order-free);
3. motion: m = tanh(sum_t W_m[t] (x_{t+1} - x_t) * motion_gain), a random projection of the ordered
   temporal differences (a static clip gives m = 0; reversing a motion changes m);
4. e = normalise(concat(normalise(a), normalise(m))), so a static clip and a moving one that share their
   appearance still differ.

Its embedding space is not aligned with any language: :meth:`embed_text` raises :class:`NoTextTowerError`.
Video prompts work within the same visual domain (a clip rendered from the same simulator). Every result
produced with it must be labelled as such (``is_stand_in = True``; :meth:`describe` says so).

Example::

    >>> import numpy as np
    >>> vlm = RandomFeatureVLM(dim=16, n_frames=4)
    >>> clip = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    >>> e = vlm.embed_video(clip)
    >>> e.shape, round(float((e ** 2).sum()), 5)
    ((1, 16), 1.0)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from agents.genrl.vlm.base import VLM, check_clips

REAL_BACKENDS_HINT = (
    'install a real VLM backend: pip install -e ".[vlm]" (in the vpt-gym checkout), then load_vlm("clip" | "siglip" | "xclip", '
    "source=<model directory or cached hub id>) with its weights on this machine"
)


class RandomFeatureVLM(VLM):
    """A fixed, seeded random-feature video encoder (offline stand-in, vision only).

    :param dim: embedding size (512, GenRL's embedding size); must be even (half appearance, half motion).
    :param n_frames: frames per clip (8, GenRL's k).
    :param resolution: frames are area-downsampled to this size (16).
    :param seed: weight seed; embeddings are comparable only between instances with equal parameters.
    :param motion_gain: scale of the temporal differences before the tanh (4.0).
    :param device: torch device for the projections.
    """

    name = "random-features"
    has_text = False
    is_stand_in = True

    def __init__(
        self, dim: int = 512, n_frames: int = 8, resolution: int = 16, seed: int = 0, motion_gain: float = 4.0,
        device: str | torch.device = "cpu",
    ) -> None:
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even number >= 2, got {dim}")
        if n_frames < 2:
            raise ValueError(f"n_frames must be >= 2 so that motion can be seen, got {n_frames}")
        if resolution < 1:
            raise ValueError(f"resolution must be >= 1, got {resolution}")
        self.dim = int(dim)
        self.n_frames = int(n_frames)
        self.resolution = int(resolution)
        self.seed = int(seed)
        self.motion_gain = float(motion_gain)
        half = self.dim // 2
        d_in = 3 * self.resolution * self.resolution
        rng = np.random.default_rng(self.seed)
        self.w_app = torch.from_numpy((rng.standard_normal((d_in, half)) * np.sqrt(12.0 / d_in)).astype(np.float32))
        self.b_app = torch.from_numpy(rng.uniform(-1.0, 1.0, half).astype(np.float32))
        scale = np.sqrt(1.0 / (d_in * (self.n_frames - 1)))
        self.w_mot = torch.from_numpy(
            (rng.standard_normal((self.n_frames - 1, d_in, half)) * scale).astype(np.float32)
        )
        self.device = torch.device(device)
        self.w_app, self.b_app, self.w_mot = (t.to(self.device) for t in (self.w_app, self.b_app, self.w_mot))

    def _frame_features(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> (N, 3 * resolution**2) area-downsampled frames in [-0.5, 0.5]."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float()
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.adaptive_avg_pool2d(x, self.resolution)
        return (x / 255.0 - 0.5).flatten(1)

    def _combine(self, appearance: torch.Tensor, motion_pre: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.normalize(appearance, dim=-1), F.normalize(torch.tanh(motion_pre), dim=-1)], dim=-1)

    def _appearance(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh((x - x.mean(-1, keepdim=True)) @ self.w_app + self.b_app)

    def _embed_clips(self, clips: np.ndarray) -> torch.Tensor:
        b, k = clips.shape[:2]
        x = self._frame_features(clips.reshape(b * k, *clips.shape[2:])).reshape(b, k, -1)
        diffs = (x[:, 1:] - x[:, :-1]) * self.motion_gain
        return self._combine(self._appearance(x).mean(1), torch.einsum("btd,tde->be", diffs, self.w_mot)).cpu()

    @torch.no_grad()
    def embed_windows(self, frames: Any, batch_size: int = 64) -> np.ndarray:
        """Every k-frame window of one video, each frame and difference projected once (same values as
        :meth:`embed_video` on the windows, about 3x faster for stride-1 windows).

        :param frames: uint8 (T, H, W, 3), T >= n_frames.
        :return: float32 (T - k + 1, dim).
        """
        video = check_clips(frames, None, self.name)
        if video.shape[0] != 1 or video.shape[1] < self.n_frames:
            raise ValueError(f"{self.name}: embed_windows needs one (T>={self.n_frames}, H, W, 3) video, "
                             f"got {np.shape(frames)}")
        k, half = self.n_frames, self.dim // 2
        x = self._frame_features(video[0])  # (T, d)
        n = x.shape[0] - k + 1
        appearance = self._appearance(x).unfold(0, k, 1).mean(-1)  # (n, half)
        diffs = (x[1:] - x[:-1]) * self.motion_gain  # (T-1, d)
        proj = (diffs @ self.w_mot.permute(1, 0, 2).reshape(x.shape[1], (k - 1) * half)).reshape(-1, k - 1, half)
        motion = sum(proj[i : i + n, i] for i in range(k - 1))
        return F.normalize(self._combine(appearance, motion), dim=-1).cpu().numpy().astype(np.float32)

    def _no_text_message(self) -> str:
        return (
            "random-features is an offline stand-in without a text tower: no text encoder aligned with its "
            "random video features exists offline, so text prompts cannot be embedded. Give the prompt as a "
            f"short video from the same domain (embed_prompt_video), or {REAL_BACKENDS_HINT}."
        )

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "resolution": self.resolution, "seed": self.seed, "motion_gain": self.motion_gain,
            "note": "offline stand-in (seeded random features), not a pretrained vision-language model",
        }

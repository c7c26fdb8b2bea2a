"""The two towers of InternVideo2-Stage2 as GenRL runs them, written from the reference's module definitions.

* :class:`VisionTower`: the InternVideo2 ViT (``PretrainInternVideo2``) on a (B, 3, T, H, W) clip: tubelet /
  patch embedding (Conv3d), class token, one joint space-time position embedding, ``depth`` pre-norm blocks
  (RMSNorm, qk-normalised attention without qkv bias, GELU MLP, layer scale), no final norm, then the attention
  pooling head (``clip_projector``) and ``vision_proj`` into the aligned space.
* :class:`TextTower`: the first ``fusion_layer`` layers of BERT (``mode="text"``: the later layers carry
  the cross-attention of the fusion encoder and are not run), the [CLS] state and ``text_proj``.

Module and parameter names follow the checkpoint's (``blocks.3.attn.qkv.weight``, ``layers.2.attention.self.query
.weight``...) so the key map of :mod:`agents.genrl.vlm.internvideo2` is a documented renaming of prefixes.
Where each number comes from is listed in :mod:`agents.genrl.vlm.internvideo2`.

Example (tiny random config)::

    >>> import torch
    >>> from agents.genrl.vlm.internvideo2_model import InternVideo2Config, VisionTower
    >>> cfg = InternVideo2Config.tiny()
    >>> VisionTower(cfg)(torch.zeros(1, 3, cfg.n_frames, cfg.image_size, cfg.image_size)).shape
    torch.Size([1, 512])
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class InternVideo2Config:
    """Sizes of InternVideo2-Stage2 (defaults: the 1B, 224 px, 4-frame checkpoint as GenRL configures it).

    :param image_size: input resolution (224).
    :param patch_size: spatial patch (14). :param tubelet_size: temporal patch (1).
    :param n_frames: frames per clip the model runs on (GenRL: 8).
    :param checkpoint_frames: frames the checkpoint's position embeddings were trained for (4; interpolated).
    :param vision_width: ViT width (1408). :param vision_depth: blocks (40). :param vision_heads: heads (16).
    :param mlp_hidden: MLP width (``int(1408 * 48 / 11)`` = 6144).
    :param clip_embed_dim: pooled width, output of the attention-pooling head (768).
    :param pool_heads: heads of the attention-pooling head (16).
    :param clip_teacher_embed_dim: width of the (unused) distillation decoders (3200).
    :param clip_teacher_final_dim: width of the (unused) final distillation decoder (768).
    :param clip_return_layer: number of (unused) distillation decoders (6).
    :param vocab_size: BERT vocabulary (30522). :param text_width: BERT width (1024).
    :param text_layers: BERT layers in the checkpoint (24). :param fusion_layer: layers run for text (19).
    :param text_heads: BERT heads (16). :param text_intermediate: BERT MLP width (4096).
    :param max_position: BERT position embeddings (512). :param type_vocab_size: token types (2).
    :param max_text_len: tokens per prompt, padded / truncated (40).
    :param embed_dim: aligned embedding size (512).
    """

    image_size: int = 224
    patch_size: int = 14
    tubelet_size: int = 1
    n_frames: int = 8
    checkpoint_frames: int = 4
    vision_width: int = 1408
    vision_depth: int = 40
    vision_heads: int = 16
    mlp_hidden: int = 6144
    clip_embed_dim: int = 768
    pool_heads: int = 16
    clip_teacher_embed_dim: int = 3200
    clip_teacher_final_dim: int = 768
    clip_return_layer: int = 6
    vocab_size: int = 30522
    text_width: int = 1024
    text_layers: int = 24
    fusion_layer: int = 19
    text_heads: int = 16
    text_intermediate: int = 4096
    max_position: int = 512
    type_vocab_size: int = 2
    max_text_len: int = 40
    embed_dim: int = 512

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"InternVideo2Config.{f.name} must be a positive int, got {value!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        for frames in (self.n_frames, self.checkpoint_frames):
            if frames % self.tubelet_size:
                raise ValueError(f"{frames} frames are not a multiple of tubelet_size {self.tubelet_size}")
        for width, heads, what in ((self.vision_width, self.vision_heads, "vision"),
                                   (self.vision_width, self.pool_heads, "pool"),
                                   (self.text_width, self.text_heads, "text")):
            if width % heads:
                raise ValueError(f"{what} width {width} is not divisible by its {heads} heads")
        if self.fusion_layer > self.text_layers:
            raise ValueError(f"fusion_layer {self.fusion_layer} exceeds text_layers {self.text_layers}")
        if self.max_text_len > self.max_position:
            raise ValueError(f"max_text_len {self.max_text_len} exceeds max_position {self.max_position}")

    @property
    def grid(self) -> int:
        """Patches per side (16)."""
        return self.image_size // self.patch_size

    def tokens(self, frames: int) -> int:
        """Patch tokens of a clip of ``frames`` frames, without the class token."""
        return frames // self.tubelet_size * self.grid * self.grid

    @classmethod
    def tiny(cls, **overrides: Any) -> "InternVideo2Config":
        """A test-sized config with the same structure (28 px, 2 blocks, 2 BERT text layers of 3)."""
        sizes = dict(image_size=28, vision_width=32, vision_depth=2, vision_heads=4, mlp_hidden=48,
                     clip_embed_dim=24, pool_heads=4, clip_teacher_embed_dim=40, clip_teacher_final_dim=24,
                     clip_return_layer=2, vocab_size=32, text_width=32, text_layers=3, fusion_layer=2,
                     text_heads=4, text_intermediate=64, max_position=48, max_text_len=12)
        return cls(**(sizes | overrides))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json_file(cls, path: str | Path) -> "InternVideo2Config":
        """A config from a JSON object of field values (unknown fields are an error)."""
        path = Path(path)
        if path.stat().st_size > 100_000:
            raise ValueError(f"{path}: {path.stat().st_size} bytes is too large for an InternVideo2 config")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read InternVideo2 config {path}: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of InternVideo2Config fields")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown InternVideo2Config fields {unknown[:10]}; known: {sorted(known)}")
        return cls(**data)


# ---------------------------------------------------------------------- vision tower
class RMSNorm(nn.Module):
    """RMSNorm (eps 1e-6) computed in fp32, then cast back and scaled, as the reference's ``RMSNorm``."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


class LayerScale(nn.Module):
    """``x * gamma`` computed in fp32 and cast back (the reference's ``force_fp32`` layer scale)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() * self.gamma.float()).to(x.dtype)


class Attention(nn.Module):
    """Multi-head self-attention; q and k RMS-normalised over all heads' channels before the product."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_norm = RMSNorm(dim)
        self.k_norm = RMSNorm(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, c).unbind(2)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.reshape(b, n, self.heads, c // self.heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """``x + ls1(attn(norm1(x)))`` then ``x + ls2(mlp(norm2(x)))``."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = RMSNorm(dim)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = RMSNorm(dim)
        self.mlp = Mlp(dim, hidden)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, config: InternVideo2Config) -> None:
        super().__init__()
        p, t = config.patch_size, config.tubelet_size
        self.proj = nn.Conv3d(3, config.vision_width, kernel_size=(t, p, p), stride=(t, p, p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, T' * h * w, C), time-major token order."""
        x = self.proj(x)  # B, C, T', h, w
        return x.flatten(2).transpose(1, 2)


class CrossAttention(nn.Module):
    """The pooling head's attention: separate q/k/v weights with separate biases, output width ``out_dim``."""

    def __init__(self, dim: int, heads: int, out_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.k_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, out_dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, nq, c = q.shape
        h = self.heads
        q = F.linear(q, self.q.weight, self.q_bias).reshape(b, nq, h, c // h).transpose(1, 2)
        k = F.linear(k, self.k.weight, self.k_bias).reshape(b, -1, h, c // h).transpose(1, 2)
        v = F.linear(v, self.v.weight, self.v_bias).reshape(b, -1, h, c // h).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, nq, c))


class AttentionPooling(nn.Module):
    """The reference's ``AttentionPoolingBlock``: the mean token attends over all tokens (LayerNorms eps 1e-5)."""

    def __init__(self, dim: int, heads: int, out_dim: int) -> None:
        super().__init__()
        self.norm1_q = nn.LayerNorm(dim, eps=1e-5)
        self.norm1_k = nn.LayerNorm(dim, eps=1e-5)
        self.norm1_v = nn.LayerNorm(dim, eps=1e-5)
        self.cross_attn = CrossAttention(dim, heads, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.norm1_q(x.mean(1, keepdim=True))
        return self.cross_attn(q, self.norm1_k(x), self.norm1_v(x)).squeeze(1)


class VisionTower(nn.Module):
    """InternVideo2 ViT + attention pooling + ``vision_proj``: (B, 3, T, H, W) normalised pixels -> (B, embed_dim).

    The position embedding holds ``n_frames`` frames (the checkpoint's are interpolated when loading, see
    :func:`interpolate_temporal`). The output is not normalised (the backend does it).
    """

    def __init__(self, config: InternVideo2Config) -> None:
        super().__init__()
        self.config = c = config
        self.patch_embed = PatchEmbed(c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.vision_width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + c.tokens(c.n_frames), c.vision_width))
        self.blocks = nn.ModuleList(Block(c.vision_width, c.vision_heads, c.mlp_hidden) for _ in range(c.vision_depth))
        self.clip_projector = AttentionPooling(c.vision_width, c.pool_heads, c.clip_embed_dim)
        self.proj = nn.Linear(c.clip_embed_dim, c.embed_dim)

    def pooled(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> the pooled clip feature (B, clip_embed_dim), before ``vision_proj``."""
        c = self.config
        if video.dim() != 5 or tuple(video.shape[1:]) != (3, c.n_frames, c.image_size, c.image_size):
            raise ValueError(f"expected (B, 3, {c.n_frames}, {c.image_size}, {c.image_size}), got {tuple(video.shape)}")
        x = self.patch_embed(video.to(self.cls_token.dtype))
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.clip_projector(x)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pooled(video))


def interpolate_temporal(pos_embed: torch.Tensor, from_frames: int, to_frames: int) -> torch.Tensor:
    """Resample a (1, 1 + T * L, C) joint position embedding from ``from_frames`` to ``to_frames`` time steps.

    As the reference's ``interpolate_pos_embed_internvideo2_new``: the class-token row is kept; for each of the
    L spatial positions and C channels the T values are resampled with 1-D linear interpolation
    (``F.interpolate(mode="linear")``, half-pixel centres, ``align_corners=False``). Computed in fp32.
    """
    if pos_embed.dim() != 3 or pos_embed.shape[0] != 1 or (pos_embed.shape[1] - 1) % from_frames:
        raise ValueError(f"position embedding of shape {tuple(pos_embed.shape)} does not hold {from_frames} frames")
    if from_frames == to_frames:
        return pos_embed
    c = pos_embed.shape[-1]
    cls_row, tokens = pos_embed[:, :1].float(), pos_embed[:, 1:].float()
    tokens = tokens.reshape(1, from_frames, -1, c).permute(0, 2, 3, 1).reshape(-1, c, from_frames)
    tokens = F.interpolate(tokens, size=to_frames, mode="linear", align_corners=False)
    tokens = tokens.reshape(1, -1, c, to_frames).permute(0, 3, 1, 2).reshape(1, -1, c)
    return torch.cat([cls_row, tokens], dim=1).to(pos_embed.dtype)


# ---------------------------------------------------------------------- text tower
class BertEmbeddings(nn.Module):
    def __init__(self, config: InternVideo2Config) -> None:
        super().__init__()
        c = config
        self.word_embeddings = nn.Embedding(c.vocab_size, c.text_width)
        self.position_embeddings = nn.Embedding(c.max_position, c.text_width)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.text_width)
        self.LayerNorm = nn.LayerNorm(c.text_width, eps=1e-12)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0] + self.position_embeddings(positions)
        return self.LayerNorm(x)


class _BertSelf(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)


class _BertSelfOutput(nn.Module):
    def __init__(self, width: int, out_from: int) -> None:
        super().__init__()
        self.dense = nn.Linear(out_from, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _BertAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.self = _BertSelf(width)
        self.output = _BertSelfOutput(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        s = self.self
        q, k, v = (lin(x).reshape(b, n, self.heads, c // self.heads).transpose(1, 2) for lin in (s.query, s.key, s.value))
        scores = q @ k.transpose(-1, -2) / math.sqrt(c // self.heads) + mask
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.output(context, x)


class _BertIntermediate(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, hidden)


class BertLayer(nn.Module):
    """A post-LayerNorm BERT layer (self-attention, GELU MLP), as the reference's text-mode layers."""

    def __init__(self, config: InternVideo2Config) -> None:
        super().__init__()
        c = config
        self.attention = _BertAttention(c.text_width, c.text_heads)
        self.intermediate = _BertIntermediate(c.text_width, c.text_intermediate)
        self.output = _BertSelfOutput(c.text_width, c.text_intermediate)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask)
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class TextTower(nn.Module):
    """BERT embeddings + the first ``fusion_layer`` layers + [CLS] + ``text_proj``: token ids -> (B, embed_dim).

    Padded positions get the additive mask -10000 of the reference's ``get_extended_attention_mask``.
    """

    def __init__(self, config: InternVideo2Config) -> None:
        super().__init__()
        self.config = c = config
        self.embeddings = BertEmbeddings(c)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c.fusion_layer))
        self.proj = nn.Linear(c.text_width, c.embed_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(input_ids)
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask)
        return self.proj(x[:, 0])


__all__ = ["InternVideo2Config", "TextTower", "VisionTower", "interpolate_temporal"]

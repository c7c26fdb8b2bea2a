"""VPT's masked self-attention with a key/value cache (spec sections 3.3 step 5, 3.4 and 12).

Every frame attends to itself and exactly ``maxlen - 1`` earlier frames ("clipped causal"), whatever its
position in the chunk; the cache keeps the last ``maxlen`` keys/values (``maxlen = memory_size -
timesteps``, 128 for the policy, 0 for the IDM). Quirks kept for parity with the reference:

- logits are ``Q.K^T / head_dim`` (muP scaling, not ``1/sqrt(head_dim)``), plus ``-1e9`` where masked,
  plus a learned relative-position bias that is *not* scaled; softmax in float32;
- the position bias is ``sum_n r[head*10 + n] * b_nd[n, lag]`` with ``r`` a linear function of the
  query frame and ``lag = t_query - t_key`` (0 = the frame itself); zero outside ``[0, maxlen)``;
- the layer returns ``y + Attn(y)``: the residual continues from its (already LayerNorm'd) input.

Episode starts (``first``): the reference honours only ``first[:, 0]`` of a chunk (then all cached
frames are masked, and stay masked in later calls through the state's validity mask). Flags further
inside a chunk are ignored there, so attention leaks across an episode boundary inside a chunk. Here
every flag is honoured: a frame never attends to a frame of an earlier episode. Whenever flags only occur
at position 0 (the only case the reference supports) both give the same result.

State per layer: ``(valid (B, maxlen) bool, keys (B, maxlen, H), values (B, maxlen, H))``; the initial
state has all slots invalid (the reference's zero keys under an all-False mask).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

#: Number of relative-position basis functions (``r_layer`` outputs ``heads * N_BASIS`` units).
N_BASIS = 10
#: Additive logit bias on masked keys (the reference's value).
MASK_BIAS = -1e9

LayerState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class AttentionWeights(nn.Module):
    """Holds the attention parameters under the reference's names (``...r.orc_block.q_layer.weight`` ...).

    :param hidsize: model width H.
    :param heads: attention heads (H must be divisible by it).
    :param maxlen: relative-position table length (``b_nd`` has shape ``(10, maxlen)``).
    """

    def __init__(self, hidsize: int, heads: int, maxlen: int) -> None:
        super().__init__()
        self.q_layer = nn.Linear(hidsize, hidsize, bias=True)
        self.k_layer = nn.Linear(hidsize, hidsize, bias=False)
        self.v_layer = nn.Linear(hidsize, hidsize, bias=False)
        self.proj_layer = nn.Linear(hidsize, hidsize, bias=True)
        self.r_layer = nn.Linear(hidsize, N_BASIS * heads, bias=True)
        self.b_nd = nn.Parameter(torch.randn(N_BASIS, maxlen) * 0.2)


def episode_index(first: torch.Tensor) -> torch.Tensor:
    """Number of episode starts up to and including each step: (B, t) bool -> (B, t) int64."""
    return first.long().cumsum(dim=1)


def attention_allowed(
    first: torch.Tensor, valid: torch.Tensor, maxlen: int, clipped_causal: bool = True
) -> torch.Tensor:
    """Which keys each query may attend to.

    Keys are the ``maxlen`` cached frames followed by the ``t`` new frames.

    :param first: (B, t) bool episode-start flags of the new frames.
    :param valid: (B, maxlen) bool validity of the cached frames.
    :param maxlen: cache length.
    :param clipped_causal: False for the IDM's mask style ``"none"`` (everything allowed).
    :return: (B, t, maxlen + t) bool.
    """
    b, t = first.shape
    total = maxlen + t
    device = first.device
    if not clipped_causal:
        return torch.ones(b, t, total, dtype=torch.bool, device=device)
    query = torch.arange(t, device=device)[:, None]
    key = torch.arange(total, device=device)[None, :]
    band = (key >= query + 1) & (key <= query + maxlen)  # itself + maxlen-1 previous frames
    ep = episode_index(first)  # (B, t)
    cached_ok = valid[:, None, :] & (ep == 0)[:, :, None]  # (B, t, maxlen)
    new_ok = ep[:, None, :] == ep[:, :, None]  # (B, t_query, t_key)
    return band[None] & torch.cat([cached_ok, new_ok], dim=2)


def next_valid(first: torch.Tensor, valid: torch.Tensor, maxlen: int) -> torch.Tensor:
    """Validity of the cache after a chunk: the last ``maxlen`` of [old slots, new frames] that share
    the last frame's episode. (B, t), (B, maxlen) -> (B, maxlen) bool."""
    ep = episode_index(first)
    last = ep[:, -1:]
    full = torch.cat([valid & (last == 0), ep == last], dim=1)
    return full[:, full.shape[1] - maxlen :]


#: ``(allowed (B, t, maxlen + t) bool or None, next validity (B, maxlen) bool)`` for one chunk.
StepMasks = tuple[torch.Tensor | None, torch.Tensor]


def step_masks(first: torch.Tensor, valid: torch.Tensor, maxlen: int) -> StepMasks:
    """:func:`attention_allowed` and :func:`next_valid` together: the same for every layer of a stack whose
    layers share their validity mask, so the stack computes them once per chunk."""
    return attention_allowed(first, valid, maxlen), next_valid(first, valid, maxlen)


def relative_position_table(b_nd: torch.Tensor, t: int, total: int) -> torch.Tensor:
    """``D[n, i, j] = b_nd[n, lag]`` with ``lag = (total - t + i) - j``, zero when ``lag`` is outside
    ``[0, maxlen)``. Returns (10, t, total)."""
    n, maxlen = b_nd.shape
    padded = torch.cat([b_nd, b_nd.new_zeros(n, 1)], dim=1)
    query = torch.arange(t, device=b_nd.device)[:, None] + (total - t)
    key = torch.arange(total, device=b_nd.device)[None, :]
    lag = query - key
    lag = torch.where((lag >= 0) & (lag < maxlen), lag, torch.full_like(lag, maxlen))
    return padded[:, lag]


class MaskedSelfAttention(nn.Module):
    """The reference's ``MaskedAttention`` + ``SelfAttentionLayer`` (norm "none"): returns ``y + Attn(y)``.

    :param hidsize: model width H.
    :param heads: attention heads.
    :param maxlen: cached frames (``attention_memory_size - timesteps``).
    :param mask_style: ``"clipped_causal"`` (policy) or ``"none"`` (IDM: every frame of the window).
    :param fused: use ``scaled_dot_product_attention`` with an additive mask instead of the reference's
        ``baddbmm`` + softmax (same maths; last-bit differences).
    """

    def __init__(
        self,
        hidsize: int,
        heads: int,
        maxlen: int,
        mask_style: Literal["clipped_causal", "none"] = "clipped_causal",
        fused: bool = False,
    ) -> None:
        super().__init__()
        if hidsize % heads:
            raise ValueError(f"hidsize {hidsize} must be divisible by attention heads {heads}")
        if mask_style not in ("clipped_causal", "none"):
            raise ValueError(f"mask_style must be 'clipped_causal' or 'none', got {mask_style!r}")
        if mask_style == "clipped_causal" and maxlen <= 0:
            raise ValueError(f"clipped_causal attention needs maxlen > 0, got {maxlen}")
        self.hidsize, self.heads, self.maxlen = hidsize, heads, maxlen
        self.mask_style = mask_style
        self.fused = fused
        self.orc_block = AttentionWeights(hidsize, heads, maxlen)
        #: the inference-only joint q/k/v/r projection made by :meth:`fuse_projections` (None: separate layers)
        self.qkvr: nn.Module | None = None
        self._tables: dict[tuple[int, int], torch.Tensor] = {}
        #: dtype of the key/value cache made by :meth:`initial_state` (float32; see :meth:`fuse_projections`)
        self.cache_dtype = torch.float32

    def initial_state(
        self, batch: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> LayerState:
        """All-invalid cache for ``batch`` sequences (keys/values in ``dtype``, default :attr:`cache_dtype`)."""
        dtype = self.cache_dtype if dtype is None else dtype
        return (
            torch.zeros(batch, self.maxlen, dtype=torch.bool, device=device),
            torch.zeros(batch, self.maxlen, self.hidsize, dtype=dtype, device=device),
            torch.zeros(batch, self.maxlen, self.hidsize, dtype=dtype, device=device),
        )

    def fuse_projections(self, cache_dtype: torch.dtype = torch.float32) -> None:
        """Inference only: merge ``q_layer``, ``k_layer``, ``v_layer`` and ``r_layer`` into one linear layer
        ``qkvr`` (one weight read and one GEMM per step instead of four) and freeze the relative-position
        tables. The four layers are removed (the state dict then has ``qkvr.*`` instead of their keys), so
        do this on a copy made for inference, after loading weights; it also switches to the fused
        ``scaled_dot_product_attention`` path. The maths is unchanged (the missing ``k``/``v`` biases are
        zeros); float32 results differ from the separate layers in the last bits.

        :param cache_dtype: dtype of the key/value cache from now on. ``torch.bfloat16`` is lossless when
            ``qkvr`` is later made a bfloat16 layer (:func:`~agents.vpt.precision.pack_linears`), whose
            keys/values are bfloat16 numbers anyway, and halves the cache's memory; but attention runs in
            float32 (see :meth:`_forward_fused_projections`), so each step then converts the cache.
        """
        if self.qkvr is not None:
            return
        w = self.orc_block
        layers = (w.q_layer, w.k_layer, w.v_layer, w.r_layer)
        ref = w.q_layer.weight
        joint = nn.Linear(self.hidsize, sum(layer.out_features for layer in layers), bias=True)
        joint = joint.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            joint.weight.copy_(torch.cat([layer.weight for layer in layers]))
            joint.bias.copy_(
                torch.cat(
                    [
                        layer.bias if layer.bias is not None else ref.new_zeros(layer.out_features)
                        for layer in layers
                    ]
                )
            )
        joint.requires_grad_(False)
        for name in ("q_layer", "k_layer", "v_layer", "r_layer"):
            delattr(w, name)
        w.b_nd.requires_grad_(False)
        self.qkvr = joint
        self.fused = True
        self.cache_dtype = cache_dtype

    def _position_table(self, t: int, total: int) -> torch.Tensor:
        """:func:`relative_position_table` for the frozen ``b_nd``, computed once per ``(t, total)``."""
        table = self._tables.get((t, total))
        if table is None:
            table = relative_position_table(self.orc_block.b_nd.detach().float(), t, total)
            self._tables[(t, total)] = table
        return table

    def _forward_fused_projections(
        self, y: torch.Tensor, first: torch.Tensor, state: LayerState, masks: StepMasks | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """The forward after :meth:`fuse_projections`: same maths as :meth:`forward` in fewer ops (one
        projection GEMM, a cached position table, the mask written into the bias in place, one fused
        attention kernel; ``masks`` may come precomputed, shared by all layers).

        Attention runs in float32 whatever the projections' dtype: CPU ``scaled_dot_product_attention``
        on bfloat16 inputs was 8x slower than on float32 ones for one query over 129 keys (330 vs 43 us,
        torch 2.13, one thread)."""
        b, t, hid = y.shape
        heads, head_dim = self.heads, self.hidsize // self.heads
        valid, k_cache, v_cache = state
        assert self.qkvr is not None
        q, k_new, v_new, r = self.qkvr(y).split([hid, hid, hid, N_BASIS * heads], dim=-1)
        keys = torch.cat([k_cache.float(), k_new.float()], dim=1)
        values = torch.cat([v_cache.float(), v_new.float()], dim=1)
        total = keys.shape[1]
        if masks is None:
            masks = step_masks(first, valid, self.maxlen) if self.mask_style == "clipped_causal" else (None, valid)
        allowed, new_valid = masks

        mask = None
        if self.mask_style == "clipped_causal":
            # bias[b, h, i, j] = sum_n r[b, i, h*10 + n] * table[n, i, j] (the reference's head-major units)
            rh = r.float().reshape(b, t, heads, N_BASIS).transpose(1, 2)  # (B, h, t, 10)
            table = self._position_table(t, total)  # (10, t, T)
            if t == 1:
                mask = torch.matmul(rh, table[:, 0])  # (B, h, 1, 10) @ (10, T)
            else:
                mask = torch.einsum("bhtn,ntp->bhtp", rh, table)
            # exp(-1e9 - max) == 0 in float32 either way: filling gives the reference's additive -1e9 result
            mask.masked_fill_(~allowed[:, None], MASK_BIAS)

        def heads_view(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(b, x.shape[1], heads, head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads_view(q.float()), heads_view(keys), heads_view(values), attn_mask=mask, scale=1.0 / head_dim
        )
        out = self.orc_block.proj_layer(out.transpose(1, 2).reshape(b, t, hid))
        if self.maxlen > 0:
            new_state = (
                new_valid,
                keys[:, total - self.maxlen :].to(self.cache_dtype),
                values[:, total - self.maxlen :].to(self.cache_dtype),
            )
        else:
            new_state = state
        return y + out, new_state

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.reshape(b, t, self.heads, -1).transpose(1, 2).reshape(b * self.heads, t, -1)

    def forward(
        self, y: torch.Tensor, first: torch.Tensor, state: LayerState, masks: StepMasks | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """:param y: (B, t, H) normalised input. :param first: (B, t) bool. :param state: layer state.
        :param masks: :func:`step_masks` of ``first`` and this layer's validity, precomputed (used only
            after :meth:`fuse_projections`; the reference path always computes its own).
        :return: ``y + Attn(y)`` and the new state."""
        if self.qkvr is not None:
            return self._forward_fused_projections(y, first, state, masks)
        w = self.orc_block
        b, t, _ = y.shape
        valid, k_cache, v_cache = state
        q = w.q_layer(y)
        k_new = w.k_layer(y)
        v_new = w.v_layer(y)
        keys = torch.cat([k_cache.to(k_new.dtype), k_new], dim=1)
        values = torch.cat([v_cache.to(v_new.dtype), v_new], dim=1)
        total = keys.shape[1]
        head_dim = self.hidsize // self.heads

        if self.mask_style == "clipped_causal":
            allowed = attention_allowed(first, valid, self.maxlen)
            bias = (~allowed).float() * MASK_BIAS  # (B, t, T)
            bias = bias.repeat_interleave(self.heads, dim=0)  # (B*h, t, T), batch-major like the reference
            r = self._split(w.r_layer(y).float())  # (B*h, t, 10)
            table = relative_position_table(w.b_nd.float(), t, total)  # (10, t, T)
            bias = bias + torch.einsum("btn,ntp->btp", r, table)
        else:
            # the IDM: no mask, and its position table is empty (maxlen 0) so the bias is exactly 0
            bias = None

        if self.fused:
            # (B, heads, T, d) views, no head-split copies; one fused kernel
            def heads_view(x: torch.Tensor) -> torch.Tensor:
                return x.float().view(b, x.shape[1], self.heads, head_dim).transpose(1, 2)

            mask = None if bias is None else bias.view(b, self.heads, t, total)
            out = F.scaled_dot_product_attention(
                heads_view(q), heads_view(keys), heads_view(values), attn_mask=mask, scale=1.0 / head_dim
            )
            out = out.transpose(1, 2).reshape(b, t, self.hidsize)
        else:
            # the reference's maths and op order (bit-identical outputs)
            qh, kh, vh = self._split(q).float(), self._split(keys).float(), self._split(values).float()
            if bias is None:
                bias = qh.new_zeros(qh.shape[0], t, total)
            logits = torch.baddbmm(bias, qh, kh.transpose(1, 2), alpha=1.0 / head_dim)
            out = torch.bmm(torch.softmax(logits, dim=2), vh)
            out = out.reshape(b, self.heads, t, head_dim).transpose(1, 2).reshape(b, t, self.hidsize)
        out = w.proj_layer(out.to(q.dtype))

        if self.maxlen > 0:
            new_state = (
                next_valid(first, valid, self.maxlen),
                keys[:, total - self.maxlen :].to(k_cache.dtype),
                values[:, total - self.maxlen :].to(v_cache.dtype),
            )
        else:
            new_state = state
        return y + out, new_state

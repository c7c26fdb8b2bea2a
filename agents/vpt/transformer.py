"""VPT's stack of residual transformer blocks (the reference's ``ResidualRecurrentBlocks``, spec 3.3 step 5).

Per block, with input ``x``: ``y = pre_r_ln(x)``; ``z = y + Attn(y)`` (the stream continues from ``y``,
the block does not add ``x`` back: a reference quirk kept for parity); ``out = z + mlp1(mlp0(z))`` with
``mlp0 = LayerNorm -> Linear(H, 4H), no bias -> ReLU`` and ``mlp1 = Linear(4H, H) + bias`` (no activation).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from agents.vpt.attention import LayerState, MaskedSelfAttention, StepMasks, step_masks
from agents.vpt.layers import NORM_EPS, NormedLayer

#: The recurrent state of the whole stack: one ``(valid, keys, values)`` triple per block.
TransformerState = tuple[LayerState, ...]


class TransformerBlock(nn.Module):
    """One residual block: pre-LayerNorm, masked self-attention, pointwise MLP.

    :param hidsize: model width H.
    :param heads: attention heads.
    :param maxlen: cached frames.
    :param pointwise_ratio: MLP expansion (4).
    :param mask_style: ``"clipped_causal"`` or ``"none"``.
    """

    def __init__(
        self,
        hidsize: int,
        heads: int,
        maxlen: int,
        pointwise_ratio: int = 4,
        mask_style: Literal["clipped_causal", "none"] = "clipped_causal",
    ) -> None:
        super().__init__()
        self.pre_r_ln = nn.LayerNorm(hidsize, eps=NORM_EPS)
        self.r = MaskedSelfAttention(hidsize, heads, maxlen, mask_style=mask_style)
        self.mlp0 = NormedLayer(hidsize, hidsize * pointwise_ratio, kind="linear", norm="layer")
        self.mlp1 = NormedLayer(hidsize * pointwise_ratio, hidsize, kind="linear", norm="none", activation=False)

    def forward(
        self, x: torch.Tensor, first: torch.Tensor, state: LayerState, masks: StepMasks | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        z, state = self.r(self.pre_r_ln(x), first, state, masks)
        return z + self.mlp1(self.mlp0(z)), state


class RecurrentTransformer(nn.Module):
    """``n_blocks`` transformer blocks with a per-block key/value cache.

    :param hidsize: model width H.
    :param heads: attention heads.
    :param maxlen: cached frames per block (``attention_memory_size - timesteps``).
    :param n_blocks: number of blocks (4 for the policies, 2 for the 4x IDM).
    :param pointwise_ratio: MLP expansion.
    :param mask_style: ``"clipped_causal"`` or ``"none"``.
    """

    def __init__(
        self,
        hidsize: int,
        heads: int,
        maxlen: int,
        n_blocks: int,
        pointwise_ratio: int = 4,
        mask_style: Literal["clipped_causal", "none"] = "clipped_causal",
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(hidsize, heads, maxlen, pointwise_ratio, mask_style) for _ in range(n_blocks)
        )

    def initial_state(
        self, batch: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> TransformerState:
        """Empty caches for ``batch`` sequences (``dtype`` default: each layer's ``cache_dtype``). All
        layers share one validity tensor (their masks always agree; nothing updates them in place)."""
        states = [block.r.initial_state(batch, device, dtype) for block in self.blocks]
        return tuple((states[0][0], k, v) for _, k, v in states)

    def set_fused_attention(self, fused: bool) -> None:
        """Switch every block between the reference's attention maths and ``scaled_dot_product_attention``."""
        for block in self.blocks:
            block.r.fused = fused

    def forward(
        self, x: torch.Tensor, first: torch.Tensor, state: TransformerState
    ) -> tuple[torch.Tensor, TransformerState]:
        if len(state) != len(self.blocks):
            raise ValueError(f"state has {len(state)} layer entries, expected {len(self.blocks)}")
        masks = None
        head = self.blocks[0].r if len(self.blocks) else None
        if (
            head is not None
            and all(block.r.qkvr is not None for block in self.blocks)
            and all(layer_state[0] is state[0][0] for layer_state in state)
        ):
            # inference fast path: one mask computation per chunk for all layers
            valid = state[0][0]
            masks = step_masks(first, valid, head.maxlen) if head.mask_style == "clipped_causal" else (None, valid)
        out = []
        for block, layer_state in zip(self.blocks, state):
            x, layer_state = block(x, first, layer_state, masks)
            out.append(layer_state)
        return x, tuple(out)

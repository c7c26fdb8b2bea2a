"""The norm -> layer -> ReLU building block of the VPT networks (the reference's ``FanInInitReLULayer``).

Order is **norm on the input, then the linear/conv layer, then an optional ReLU** (spec section 3.1).
The layer has a bias only when there is no norm. The submodule names ``norm`` and ``layer`` are the
ones of the official state dicts (``...firstconv.norm.weight``, ``...firstconv.layer.weight``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

NormKind = Literal["none", "group", "layer"]

#: eps of every LayerNorm/GroupNorm in VPT (spec section 12).
NORM_EPS = 1e-5


class NormedLayer(nn.Module):
    """``norm(x) -> layer -> relu`` with the reference's parameter names.

    :param in_features: input channels / features (the norm acts on these).
    :param out_features: output channels / features.
    :param kind: ``"linear"``, ``"conv2d"`` (3x3, padding 1) or ``"conv3d"`` (needs ``kernel_size``/``padding``).
    :param norm: ``"group"`` (GroupNorm with one group), ``"layer"`` (LayerNorm) or ``"none"`` (then the
        layer has a bias).
    :param activation: apply ReLU after the layer.
    :param kernel_size: conv kernel size (default 3 for ``conv2d``).
    :param padding: conv padding (default 1 for ``conv2d``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kind: Literal["linear", "conv2d", "conv3d"] = "linear",
        norm: NormKind = "none",
        activation: bool = True,
        kernel_size: int | tuple[int, ...] = 3,
        padding: int | tuple[int, ...] = 1,
    ) -> None:
        super().__init__()
        if norm == "group":
            self.norm: nn.Module | None = nn.GroupNorm(1, in_features, eps=NORM_EPS)
        elif norm == "layer":
            self.norm = nn.LayerNorm(in_features, eps=NORM_EPS)
        elif norm == "none":
            self.norm = None
        else:
            raise ValueError(f"norm must be 'none', 'group' or 'layer', got {norm!r}")
        bias = self.norm is None
        if kind == "linear":
            self.layer: nn.Module = nn.Linear(in_features, out_features, bias=bias)
        elif kind == "conv2d":
            self.layer = nn.Conv2d(in_features, out_features, kernel_size, padding=padding, bias=bias)
        elif kind == "conv3d":
            self.layer = nn.Conv3d(in_features, out_features, kernel_size, padding=padding, bias=bias)
        else:
            raise ValueError(f"kind must be 'linear', 'conv2d' or 'conv3d', got {kind!r}")
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            x = self.norm(x)
        x = self.layer(x)
        return F.relu(x, inplace=True) if self.activation else x  # x is this layer's own output

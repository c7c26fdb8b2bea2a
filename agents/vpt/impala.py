"""The ImpalaCNN image encoder of VPT (spec section 3.3, step 2).

Three down-sampling stacks with ``width * (16, 32, 32)`` channels. Each stack:
first conv (3x3; GroupNorm(1) on its input except, in the policy, for stack 0, which then has a bias)
-> ReLU -> max-pool 3x3/2 (pad 1) -> GroupNorm(1) (``n``, the "post_pool_groups 1" norm) -> two residual
blocks ``x + conv1(conv0(x))`` with ``conv = GroupNorm(1) -> 3x3 conv (no bias) -> ReLU``.
Then flatten in C, H, W order -> ``dense`` (LayerNorm -> Linear(flat, 256), no bias -> ReLU).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from agents.vpt.layers import NORM_EPS, NormedLayer


class ResidualConvBlock(nn.Module):
    """``x + conv1(conv0(x))``, both convs GroupNorm(1) -> 3x3 conv -> ReLU.

    :param channels: channel count (kept).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv0 = NormedLayer(channels, channels, kind="conv2d", norm="group")
        self.conv1 = NormedLayer(channels, channels, kind="conv2d", norm="group")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.conv0(x))
        # in place when no autograd graph is recorded (the ReLU's saved output must stay intact in training)
        return y.add_(x) if not torch.is_grad_enabled() else x + y


class DownStack(nn.Module):
    """First conv, max-pool, post-pool GroupNorm and two residual blocks.

    :param in_channels: input channels.
    :param out_channels: output channels.
    :param first_conv_norm: put a GroupNorm(1) on the first conv's input (no bias then).
    :param n_blocks: residual blocks after the pool (2 in VPT).
    """

    def __init__(self, in_channels: int, out_channels: int, first_conv_norm: bool, n_blocks: int = 2) -> None:
        super().__init__()
        self.firstconv = NormedLayer(
            in_channels, out_channels, kind="conv2d", norm="group" if first_conv_norm else "none"
        )
        self.n = nn.GroupNorm(1, out_channels, eps=NORM_EPS)
        self.blocks = nn.ModuleList(ResidualConvBlock(out_channels) for _ in range(n_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.firstconv(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        x = self.n(x)
        for block in self.blocks:
            x = block(x)
        return x


class ImpalaCNN(nn.Module):
    """ImpalaCNN: (N, C, H, W) float images -> (N, outsize) features.

    :param in_channels: input channels (3 for the policy, the 3D conv's 128 for the IDM).
    :param image_size: input height/width (square; 128 in VPT).
    :param chans: channels of the three stacks, ``impala_width * (16, 32, 32)``.
    :param outsize: size of the dense output (256 in VPT).
    :param first_conv_norm: GroupNorm on stack 0's first conv (False for the policy, True for the IDM).
        Stacks 1 and 2 always have it.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        chans: Sequence[int],
        outsize: int = 256,
        first_conv_norm: bool = False,
    ) -> None:
        super().__init__()
        self.stacks = nn.ModuleList()
        channels, size = in_channels, image_size
        for i, out in enumerate(chans):
            self.stacks.append(DownStack(channels, out, first_conv_norm=first_conv_norm if i == 0 else True))
            channels, size = out, (size + 1) // 2
        self.flat_size = channels * size * size
        self.dense = NormedLayer(self.flat_size, outsize, kind="linear", norm="layer")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stack in self.stacks:
            x = stack(x)
        return self.dense(x.flatten(1))

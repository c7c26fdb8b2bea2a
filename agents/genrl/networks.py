"""Building blocks of GenRL's world model: channel LayerNorm, conv encoder/decoder, MLPs.

Numbers follow ``shared/specs/genrl.md`` sections 1.2, 1.4, 1.5 and 12:

* encoder: 4 x Conv2d(kernel 4, stride 2, no padding), channels 3 -> d -> 2d -> 4d -> 8d, each followed by a
  channel-wise LayerNorm (eps 1e-3) and SiLU; 64x64 -> 31 -> 14 -> 6 -> 2, embedding 32d (1536 for d=48);
* decoder: Linear(stoch -> 32d) then ConvTranspose2d stride 2, kernels (5, 5, 6, 6), channels
  32d -> 4d -> 2d -> d -> 3, channel LN (eps 1e-3) + SiLU after all but the last; 1 -> 5 -> 13 -> 30 -> 64;
* vector LayerNorms use eps 1e-5; every Linear has a bias.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

VECTOR_LN_EPS = 1e-5
CHANNEL_LN_EPS = 1e-3


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of an NCHW tensor, applied independently at every pixel.

    :param channels: number of channels C.
    :param eps: the LayerNorm epsilon (GenRL's conv nets use 1e-3).
    """

    def __init__(self, channels: int, eps: float = CHANNEL_LN_EPS) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.normalized_shape[0]:
            raise ValueError(
                f"ChannelLayerNorm expects (N, {self.normalized_shape[0]}, H, W), got {tuple(x.shape)}"
            )
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvEncoder(nn.Module):
    """GenRL's image encoder: uint8-free float images in [-0.5, 0.5] -> flat embedding.

    :param depth: channels of the first conv (``cnn_depth``, 48 in the official config).
    :param image_size: input height and width (64).

    Example::

        >>> enc = ConvEncoder(depth=4)
        >>> enc(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 128])
    """

    def __init__(self, depth: int = 48, image_size: int = 64) -> None:
        super().__init__()
        if image_size != 64:
            raise ValueError(f"ConvEncoder supports image_size 64 only, got {image_size}")
        channels = [3, depth, 2 * depth, 4 * depth, 8 * depth]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2), ChannelLayerNorm(c_out), nn.SiLU()]
        self.net = nn.Sequential(*layers)
        self.depth = depth
        self.embed_dim = 8 * depth * 2 * 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """:param images: (N, 3, 64, 64) float images. :return: (N, 32*depth), flattened in (C, H, W) order."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, 64, 64):
            raise ValueError(f"ConvEncoder expects (N, 3, 64, 64) images, got {tuple(images.shape)}")
        # channels_last makes the oneDNN convolutions and the channel LayerNorms (no copies) much faster
        # on the CPU; the values are the same up to float summation order.
        x = self.net(images.contiguous(memory_format=torch.channels_last))
        return x.contiguous().flatten(1)

    def forward_phases(self, phases: torch.Tensor) -> torch.Tensor:
        """The same embedding from images in phase layout (:func:`image_phases`, (N, 12, 32, 32)).

        A 4x4 stride-2 conv of an image is a 2x2 stride-1 conv of its space-to-depth: tap (2u + a, 2v + b)
        of colour c becomes tap (u, v) of phase channel a * 6 + b * 3 + c. Same sums, so the same values up
        to float summation order; it lets the training loss build one image tensor for encoder and target.
        """
        if phases.dim() != 4 or tuple(phases.shape[1:]) != (12, 32, 32):
            raise ValueError(f"ConvEncoder.forward_phases expects (N, 12, 32, 32) phases, got {tuple(phases.shape)}")
        first = self.net[0]
        o = first.weight.shape[0]
        # (o, c, u, a, v, b) -> (o, a, b, c, u, v)
        w = first.weight.reshape(o, 3, 2, 2, 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(o, 12, 2, 2)
        x = F.conv2d(phases.contiguous(memory_format=torch.channels_last), w, first.bias)
        x = self.net[1:](x)
        return x.contiguous().flatten(1)


class ConvDecoder(nn.Module):
    """GenRL's image decoder: flat stochastic state -> image mean in [-0.5, 0.5] space.

    The first Linear layer (``self.linear``) is the g_phi used by GenRL's reward (spec section 4.2).

    :param in_dim: input size (the flattened stochastic state, 1024 officially).
    :param depth: ``cnn_depth`` (48).

    Example::

        >>> dec = ConvDecoder(in_dim=16, depth=4)
        >>> dec(torch.zeros(2, 16)).shape
        torch.Size([2, 3, 64, 64])
    """

    def __init__(self, in_dim: int, depth: int = 48) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.depth = depth
        self.linear = nn.Linear(in_dim, 32 * depth)
        channels = [32 * depth, 4 * depth, 2 * depth, depth, 3]
        kernels = [5, 5, 6, 6]
        layers: list[nn.Module] = []
        for i, (c_in, c_out, k) in enumerate(zip(channels[:-1], channels[1:], kernels)):
            layers.append(nn.ConvTranspose2d(c_in, c_out, k, 2))
            if i < len(kernels) - 1:
                layers += [ChannelLayerNorm(c_out), nn.SiLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, stoch: torch.Tensor) -> torch.Tensor:
        """:param stoch: (N, in_dim). :return: (N, 3, 64, 64) image means."""
        return phases_to_images(self.forward_phases(stoch))

    def forward_phases(self, stoch: torch.Tensor) -> torch.Tensor:
        """The image means in phase layout (see :func:`image_phases`): ``image_phases`` of :meth:`forward`.

        The last transposed conv is computed as one ordinary conv whose 4 * 3 output channels are the four
        stride phases of each colour (see :func:`conv_transpose_subpixel`); returning them in phase layout
        spares the training loss the interleaving copy, forward and backward (the target is brought into
        the same layout instead, where the encoder reads it too).

        :param stoch: (N, in_dim). :return: (N, 12, 32, 32), channels-last in memory.
        """
        if stoch.dim() != 2 or stoch.shape[1] != self.in_dim:
            raise ValueError(f"ConvDecoder expects (N, {self.in_dim}), got {tuple(stoch.shape)}")
        x = self.linear(stoch)
        first = self.net[0]
        # The first transposed conv sees a 1x1 input, so it is exactly a matmul with its weight
        # (C_in, C_out*k*k): far faster on the CPU than the generic transposed-conv kernel.
        w = first.weight
        x = F.linear(x, w.reshape(w.shape[0], -1).t()).reshape(x.shape[0], *w.shape[1:])
        x = x + first.bias.view(1, -1, 1, 1)
        x = x.contiguous(memory_format=torch.channels_last)
        for layer in self.net[1:-1]:
            if _is_even_stride2_transpose(layer):
                x = conv_transpose_channels_last(x, layer.weight, layer.bias)
            else:
                x = layer(x)
        last = self.net[-1]
        weight, bias, pad = subpixel_weight(last.weight, last.bias, colour_minor=True)
        return F.conv2d(x, weight, bias, padding=pad)


def _is_even_stride2_transpose(layer: nn.Module) -> bool:
    """A ConvTranspose2d that :func:`conv_transpose_channels_last` computes exactly (square even kernel,
    stride 2, no padding, no groups or dilation)."""
    return (isinstance(layer, nn.ConvTranspose2d) and layer.kernel_size[0] == layer.kernel_size[1]
            and layer.kernel_size[0] % 2 == 0 and layer.stride == (2, 2) and layer.padding == (0, 0)
            and layer.output_padding == (0, 0) and layer.dilation == (1, 1) and layer.groups == 1)


def image_phases(observation: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 3, 64, 64) -> the preprocessed floats x / 255 - 0.5 in "phase" layout.

    Phase layout is a space-to-depth of the image: a (N, 12, 32, 32) channels-last tensor whose channel
    ``a * 6 + b * 3 + c`` at (i, j) is colour c of pixel (2i + a, 2j + b); in memory it is (N, i, j, a, b, c).
    The encoder's first stride-2 conv reads it as a stride-1 conv (:meth:`ConvEncoder.forward_phases`) and the
    decoder's last layer writes it (:meth:`ConvDecoder.forward_phases`), so the training loss compares the
    two without ever interleaving a float image. One float allocation: the bytes are reordered first, then
    converted and scaled in place (the same values as ``observation.float() / 255 - 0.5``).
    """
    if observation.dtype != torch.uint8 or observation.dim() != 4 or tuple(observation.shape[1:]) != (3, 64, 64):
        raise ValueError(f"image_phases expects uint8 (N, 3, 64, 64), got {observation.dtype} "
                         f"{tuple(observation.shape)}")
    n = observation.shape[0]
    hwc = observation.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)  # (N, 64, 64, 3) view
    u = hwc.reshape(n, 32, 2, 32, 2, 3).permute(0, 1, 3, 2, 4, 5).contiguous()  # (N, i, j, a, b, c)
    x = u.float().div_(255.0).sub_(0.5)
    return x.view(n, 32, 32, 12).permute(0, 3, 1, 2)


def phases_to_images(phases: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`image_phases`'s layout change: (N, 12, H, W) phases -> (N, 3, 2H, 2W) NCHW images."""
    n, ch, h, w = phases.shape
    if ch != 12:
        raise ValueError(f"phases must have 12 channels (2 x 2 phases x 3 colours), got {tuple(phases.shape)}")
    x = phases.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2, 3)  # (N, i, j, a, b, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(n, 3, 2 * h, 2 * w)


def subpixel_weight(
    weight: torch.Tensor, bias: torch.Tensor, colour_minor: bool = False
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Weight, bias and padding of the ordinary conv that computes ``conv_transpose2d(., weight, bias,
    stride=2)`` as stride phases (see :func:`conv_transpose_subpixel`).

    :param weight: (C_in, C_out, k, k), k even. :param bias: (C_out,).
    :param colour_minor: output channel ``(a * 2 + b) * C_out + o`` (the layout of :func:`image_phases`)
        instead of ``o * 4 + a * 2 + b`` (``pixel_shuffle``'s).
    :return: ((C_out * 4, C_in, k/2, k/2) weight, (C_out * 4,) bias, padding k/2 - 1).
    """
    c_in, c_out, k, k2 = weight.shape
    if k != k2 or k % 2:
        raise ValueError(f"conv_transpose_subpixel needs a square even kernel, got {tuple(weight.shape)}")
    h = k // 2
    w = weight.reshape(c_in, c_out, h, 2, h, 2).flip(2, 4)  # taps ki = 2u + a, u reversed for correlation
    if colour_minor:
        return w.permute(3, 5, 1, 0, 2, 4).reshape(c_out * 4, c_in, h, h), bias.repeat(4), h - 1
    w = w.permute(1, 3, 5, 0, 2, 4).reshape(c_out * 4, c_in, h, h)
    return w, bias.repeat_interleave(4), h - 1


def conv_transpose_subpixel(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``conv_transpose2d(x, weight, bias, stride=2)`` for an even kernel, computed as one ordinary conv
    followed by a pixel shuffle (the same sums; PyTorch's CPU transposed-conv kernel is slow when there are
    few output channels, e.g. the decoder's RGB layer).

    Output pixel (2m + a, 2n + b) only sees kernel taps ki = a + 2u, kj = b + 2v, so the four (a, b)
    phases are four k/2 x k/2 convolutions of the input padded by k/2 - 1, stacked as channels
    ``o * 4 + a * 2 + b`` and interleaved by ``pixel_shuffle(2)``.

    :param x: (N, C_in, H, W). :param weight: (C_in, C_out, k, k), k even. :param bias: (C_out,).
    """
    w, b, pad = subpixel_weight(weight, bias)
    y = F.conv2d(x, w, b, padding=pad)  # (N, C_out*4, H', W')
    c_out = weight.shape[1]
    n, _, hh, ww = y.shape
    # pixel shuffle written as one permute-copy that yields a contiguous NCHW result; for a channels-last
    # y the permute to NHWC is free
    y = y.permute(0, 2, 3, 1).reshape(n, hh, ww, c_out, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return y.reshape(n, c_out, 2 * hh, 2 * ww)


def conv_transpose_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``conv_transpose2d(x, weight, bias, stride=2)`` for an even kernel as a channels-last result: the
    ordinary conv of :func:`conv_transpose_subpixel` with colour-minor phases (channel ``(a*2+b)*C + o``),
    so that interleaving the phases copies runs of 2 * C contiguous floats (about 25% faster, forward and
    backward, than PyTorch's transposed conv for the decoder's 16 -> 8 layer on this CPU).

    :param x: (N, C_in, H, W). :param weight: (C_in, C_out, k, k), k even. :param bias: (C_out,).
    :return: (N, C_out, 2H', 2W') with channels-last strides.
    """
    w, b, pad = subpixel_weight(weight, bias, colour_minor=True)
    y = F.conv2d(x.contiguous(memory_format=torch.channels_last), w, b, padding=pad)
    c_out = weight.shape[1]
    n, _, hh, ww = y.shape
    z = y.permute(0, 2, 3, 1).reshape(n, hh, ww, 2, 2, c_out)  # (N, i, j, a, b, o)
    z = z.permute(0, 1, 3, 2, 4, 5).reshape(n, 2 * hh, 2 * ww, c_out)  # (N, 2i + a, 2j + b, o)
    return z.permute(0, 3, 1, 2)


class DenseLNBlock(nn.Sequential):
    """Linear -> LayerNorm(eps 1e-5) -> SiLU, the unit of every GenRL MLP.

    :param in_dim: input size. :param out_dim: output size.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim, eps=VECTOR_LN_EPS), nn.SiLU())


class MLP(nn.Module):
    """``layers`` x DenseLNBlock(units) followed by a Linear output layer.

    :param in_dim: input size.
    :param out_dim: output size.
    :param layers: number of hidden blocks.
    :param units: hidden width.
    :param zero_output: zero-initialise the output layer (GenRL's two-hot heads do this).
    """

    def __init__(self, in_dim: int, out_dim: int, layers: int, units: int, zero_output: bool = False) -> None:
        super().__init__()
        dims = [in_dim] + [units] * layers
        self.hidden = nn.Sequential(*[DenseLNBlock(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.out = nn.Linear(dims[-1], out_dim)
        if zero_output:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))

"""Reduced-precision inference helpers for the VPT networks (the agent's bf16 and fast modes).

At batch 1 the policy's linear layers are bound by reading their weights (71M parameters for the 1x
policy = 284 MB per step in float32), and ``torch.autocast`` makes it worse by re-casting every weight on
every call.

- :func:`bfloat16_linears` stores the weights of the given linear layers in bfloat16 once; inputs are
  cast to bfloat16 on the way in and outputs back to float32, so the residual stream, the LayerNorms,
  the attention softmax and the heads' log-softmax stay float32 (``VPTAgent(dtype="bfloat16")``; also
  used by the IDM trainer).
- :class:`PackedLinear` / :func:`pack_linears` go further for inference (``VPTAgent(pack_weights=True)``,
  the benchmark's ``fast`` mode): bfloat16 weights reordered once into oneDNN's blocked layout, a ReLU
  fused into the layer where one follows, and bfloat16 outputs where the consumer takes them.

Effect on the action log-probabilities, measured on a network whose action distributions are far from
uniform (``benchmarks.vpt_policy_speed.non_uniform_policy("1x")``: random weights + noise 0.02, heads x10;
float32 mean max-prob 0.36 buttons / 0.60 camera), 12 cached steps of 8 envs, against float32:

- ``VPTAgent(dtype="bfloat16", channels_last=True, pack_weights=True)`` (image encoder float32, the
  default ``encoder_dtype``): max |dlogp| 0.24, mean KL 1.2e-3, argmax agreement 0.99;
- the same with ``encoder_dtype="bfloat16"`` (the fastest; the fast mode before issue 20): 1.18, 1.6e-2, 0.90;
- ``VPTAgent(channels_last=True, pack_weights=True)`` (float32 throughout: prepacked convs, fused q/k/v/r,
  fused attention): 2.7e-4, KL ~0, argmax agreement 1.0.

Each component alone in bfloat16 (the rest float32) on that network: image encoder convs 0.73 (KL 7.7e-3),
its dense layer 0.12, its linear 0.11, transformer linears 0.19 (KL 6.9e-4), lastlayer 0.09, action heads
0.11. So no bfloat16 component is within 0.05 of float32 there; random weights (nearly uniform outputs)
hide all of this (0.04 on the 1x preset).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F


def _cast_input(module: nn.Module, args: tuple) -> tuple:
    return (args[0].to(module.weight.dtype), *args[1:])


def _cast_output(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return output.float()


def bfloat16_linears(modules: Iterable[nn.Module]) -> int:
    """Store every ``nn.Linear`` inside ``modules`` in bfloat16, with float32 in/out (in place).

    :param modules: modules to convert (searched recursively).
    :return: number of converted layers.
    """
    n = 0
    for root in modules:
        for layer in root.modules():
            if isinstance(layer, nn.Linear) and layer.weight.dtype == torch.float32:
                layer.to(torch.bfloat16)
                layer.register_forward_pre_hook(_cast_input)
                layer.register_forward_hook(_cast_output)
                n += 1
    return n


@functools.lru_cache(maxsize=1)
def onednn_bf16_supported() -> bool:
    """Whether oneDNN runs bfloat16 kernels on this CPU (it needs AVX512-BW/VL/DQ or AVX-NE-CONVERT; an AVX2-only
    CPU refuses to reorder bfloat16 weights)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def onednn_packing_available() -> bool:
    """Whether this torch build and CPU can prepack bfloat16 linear weights with oneDNN (CPU builds with mkldnn,
    CPUs with oneDNN bfloat16 support: :func:`onednn_bf16_supported`)."""
    if not onednn_bf16_supported():
        return False
    try:
        torch.ops.mkldnn._reorder_linear_weight  # noqa: B018 (resolves the op or raises)
        torch.ops.mkldnn._linear_pointwise  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True


class PackedLinear(nn.Module):
    """Inference-only stand-in for an ``nn.Linear``: bfloat16 weights, float32 accumulation, and on CPU
    the weights reordered once into oneDNN's blocked layout (what ``torch.compile``'s freezing pass does).

    At batch 1 a plain bfloat16 ``F.linear`` re-lays its weight out on every call; the prepacked
    weight halves the time of the 1x policy's large layers again (measured on the 2-core AVX512-BF16
    machines: 1024x4096 0.33 -> 0.16 ms, the CNN's 32768x256 dense layer 1.7 -> 0.45 ms, one thread).
    The input is cast to bfloat16 and the output back to the input's dtype, so a float32 residual
    stream stays float32 (its values then carry bfloat16 rounding: about 3 significant digits).

    :param linear: the layer to convert (its parameters are copied, not shared).
    :param relu: fuse a ReLU into the layer's output.
    :param out_dtype: dtype of the output; None: the input's dtype. ``torch.bfloat16`` skips the cast
        back when the consumer accepts bfloat16 (another bfloat16 layer; a float32 residual ``x + y``
        promotes): the values are the same, the cast is lossless either way.
    :param pack: use oneDNN's prepacked weights (default: when the weights are on the CPU and
        :func:`onednn_packing_available`); otherwise a plain bfloat16 ``F.linear``.

    Example::

        >>> import torch
        >>> from torch import nn
        >>> layer = PackedLinear(nn.Linear(8, 4))
        >>> layer(torch.ones(2, 8)).dtype
        torch.float32
    """

    def __init__(
        self,
        linear: nn.Linear,
        relu: bool = False,
        pack: bool | None = None,
        out_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"PackedLinear converts an nn.Linear, got {type(linear).__name__}")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.relu = relu
        self.out_dtype = out_dtype
        weight = linear.weight.detach().to(torch.bfloat16).contiguous()
        bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16).contiguous()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        if pack is None:
            pack = weight.device.type == "cpu" and onednn_packing_available()
        # an opaque oneDNN tensor: kept out of the state dict, rebuilt by repack()
        self._packed: torch.Tensor | None = None
        if pack:
            self.repack()

    def __getstate__(self) -> dict:
        # the oneDNN tensor cannot be copied or pickled: drop it, and rebuild it in __setstate__
        state = self.__dict__.copy()
        state["_packed"] = self._packed is not None
        return state

    def __setstate__(self, state: dict) -> None:
        packed = state.pop("_packed")
        super().__setstate__(state)
        self._packed = None
        if packed:
            self.repack()

    def repack(self) -> None:
        """(Re)build the oneDNN weight from ``weight`` (after loading new values into it)."""
        self._packed = torch.ops.mkldnn._reorder_linear_weight(self.weight, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"expected input with {self.in_features} features in the last dim, got {tuple(x.shape)}")
        xb = x.to(torch.bfloat16)
        if self._packed is not None:
            y = torch.ops.mkldnn._linear_pointwise(
                xb.contiguous(), self._packed, self.bias, "relu" if self.relu else "none", [], ""
            )
        else:
            y = F.linear(xb, self.weight, self.bias)
            if self.relu:
                y = F.relu(y)
        return y.to(x.dtype if self.out_dtype is None else self.out_dtype)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"relu={self.relu}, packed={self._packed is not None}"
        )


def pack_linears(
    root: nn.Module,
    skip: Iterable[nn.Module] = (),
    pack: bool | None = None,
    bfloat16_outputs: Iterable[nn.Module] = (),
) -> int:
    """Replace every ``nn.Linear`` under ``root`` by a :class:`PackedLinear` (in place; inference only).

    A linear layer that is the ``layer`` of a :class:`~agents.vpt.layers.NormedLayer` with a ReLU gets the
    ReLU fused in (and the ``NormedLayer``'s own ReLU is switched off).

    :param root: module to convert.
    :param skip: submodules left untouched (e.g. the value head).
    :param pack: passed to :class:`PackedLinear`.
    :param bfloat16_outputs: submodules whose linear layers return bfloat16 (``out_dtype``), for code
        that accepts it (the transformer's fused attention path and residual adds).
    :return: number of replaced layers.
    """
    # imported here: precision stays importable without the network modules
    from agents.vpt.layers import NormedLayer

    skipped = {id(m) for s in skip for m in s.modules()}
    low = {id(m) for s in bfloat16_outputs for m in s.modules()}
    n = 0
    for parent in list(root.modules()):
        if id(parent) in skipped:
            continue
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Linear) or id(child) in skipped:
                continue
            fuse = isinstance(parent, NormedLayer) and name == "layer" and parent.activation
            out_dtype = torch.bfloat16 if id(child) in low else None
            setattr(parent, name, PackedLinear(child, relu=fuse, pack=pack, out_dtype=out_dtype))
            if fuse:
                parent.activation = False
            n += 1
    return n



class PackedConv2d(nn.Module):
    """Inference-only stand-in for an ``nn.Conv2d`` on the CPU: oneDNN's convolution with the weight
    reordered once per input shape (``F.conv2d`` reorders it on every call) and an optional ReLU fused
    in as a post-op (no separate pass over the output). Same weights, same arithmetic as ``F.conv2d``
    in the weights' dtype; without oneDNN, off the CPU or for another input dtype it falls back to
    ``F.conv2d`` (+ ReLU). Measured: the 1x policy's cached step 5-7% less CPU time in the fast mode.

    :param conv: the convolution to convert (weight and bias copied; zero padding given as numbers).
    :param relu: fuse a ReLU into the output.

    Example::

        >>> import torch
        >>> from torch import nn
        >>> layer = PackedConv2d(nn.Conv2d(3, 8, 3, padding=1), relu=True)
        >>> bool((layer(torch.randn(1, 3, 16, 16)) >= 0).all())
        True
    """

    #: at most this many input shapes keep a packed weight (a stream of new shapes evicts the oldest)
    MAX_SHAPES = 8

    def __init__(self, conv: nn.Conv2d, relu: bool = False) -> None:
        super().__init__()
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"PackedConv2d converts an nn.Conv2d, got {type(conv).__name__}")
        if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
            raise ValueError(
                f"PackedConv2d needs numeric zero padding, got padding={conv.padding!r}, "
                f"padding_mode={conv.padding_mode!r}"
            )
        self.register_buffer("weight", conv.weight.detach().clone())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.stride, self.padding = list(conv.stride), list(conv.padding)
        self.dilation, self.groups = list(conv.dilation), conv.groups
        self.relu = relu
        self._packed: dict[tuple[int, ...], torch.Tensor] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_packed"] = {}  # opaque oneDNN tensors: rebuilt on the next call
        return state

    def _onednn(self, x: torch.Tensor) -> bool:
        return (
            torch.backends.mkldnn.is_available()
            and x.device.type == "cpu"
            and self.weight.device.type == "cpu"
            and x.dim() == 4
            and x.dtype == self.weight.dtype
            and (x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and onednn_bf16_supported()))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.weight.shape[1] * self.groups:
            raise ValueError(
                f"expected (N, {self.weight.shape[1] * self.groups}, H, W) input, got {tuple(x.shape)}"
            )
        if not self._onednn(x):
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
            return F.relu(y) if self.relu else y
        shape = tuple(x.shape)
        packed = self._packed.get(shape)
        if packed is None:
            if len(self._packed) >= self.MAX_SHAPES:
                self._packed.pop(next(iter(self._packed)))
            packed = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight, self.padding, self.stride, self.dilation, self.groups, list(shape)
            )
            self._packed[shape] = packed
        return torch.ops.mkldnn._convolution_pointwise(
            x, packed, self.bias, self.padding, self.stride, self.dilation, self.groups,
            "relu" if self.relu else "none", [], "",
        )

    def extra_repr(self) -> str:
        out, inp = self.weight.shape[0], self.weight.shape[1] * self.groups
        return f"{inp}, {out}, kernel_size={tuple(self.weight.shape[2:])}, padding={self.padding}, relu={self.relu}"


def pack_convs(root: nn.Module) -> int:
    """Replace every ``nn.Conv2d`` under ``root`` by a :class:`PackedConv2d` (in place; inference only),
    fusing the ReLU of a :class:`~agents.vpt.layers.NormedLayer` into its conv (its own ReLU is then off).

    :param root: module to convert. :return: number of replaced layers.
    """
    # imported here: precision stays importable without the network modules
    from agents.vpt.layers import NormedLayer

    n = 0
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Conv2d:
                continue
            fuse = isinstance(parent, NormedLayer) and name == "layer" and parent.activation
            setattr(parent, name, PackedConv2d(child, relu=fuse))
            if fuse:
                parent.activation = False
            n += 1
    return n

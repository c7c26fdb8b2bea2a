"""Reduced-precision helpers: PackedLinear (bfloat16, oneDNN-prepacked weights) and pack_linears."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from agents.vpt.layers import NormedLayer
from agents.vpt.precision import (
    PackedConv2d,
    PackedLinear,
    bfloat16_linears,
    onednn_bf16_supported,
    onednn_packing_available,
    pack_convs,
    pack_linears,
)

PACK_MODES = [False] + ([True] if onednn_packing_available() else [])


def _linear(n_in: int = 64, n_out: int = 48, bias: bool = True, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(n_in, n_out, bias=bias)


def _bf16_reference(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """bfloat16 operands, exact products and sums (float64): what the layer should approximate."""
    w = layer.weight.detach().bfloat16().double()
    b = None if layer.bias is None else layer.bias.detach().bfloat16().double()
    return F.linear(x.bfloat16().double(), w, b)


@pytest.mark.parametrize("pack", PACK_MODES)
@pytest.mark.parametrize("bias", [True, False])
def test_packed_linear_is_the_linear_in_bfloat16(pack, bias):
    layer = _linear(bias=bias)
    x = torch.randn(3, 5, 64)
    out = PackedLinear(layer, pack=pack)(x)
    assert out.shape == (3, 5, 48) and out.dtype == torch.float32
    ref = _bf16_reference(layer, x)
    # float32 accumulation, then one bfloat16 rounding of the output (relative 2**-8)
    assert torch.allclose(out.double(), ref, rtol=2**-8, atol=1e-3)
    # and it is a real approximation of the float32 layer, not a copy of it
    full = layer(x)
    assert 0 < (out - full).abs().max().item() < 0.02 * full.abs().max().item()


@pytest.mark.parametrize("pack", PACK_MODES)
def test_packed_linear_relu_and_out_dtype(pack):
    layer = _linear()
    x = torch.randn(4, 64)
    plain = PackedLinear(layer, pack=pack)(x)
    fused = PackedLinear(layer, relu=True, pack=pack)(x)
    assert torch.equal(fused, plain.clamp_min(0)) and (plain < 0).any()
    low = PackedLinear(layer, pack=pack, out_dtype=torch.bfloat16)(x)
    assert low.dtype == torch.bfloat16 and torch.equal(low.float(), plain)  # the cast back is lossless
    assert PackedLinear(layer, pack=pack)(x.bfloat16()).dtype == torch.bfloat16


@pytest.mark.skipif(not onednn_packing_available(), reason="needs oneDNN weight packing")
def test_packed_and_unpacked_paths_agree_at_batch_1_and_8():
    layer = _linear(256, 512)
    packed, plain = PackedLinear(layer, pack=True), PackedLinear(layer, pack=False)
    assert "packed=True" in repr(packed) and "packed=False" in repr(plain)
    for batch in (1, 8):
        x = torch.randn(batch, 1, 256)
        a, b = packed(x), plain(x)
        # both round an float32 accumulation to bfloat16: at most one bfloat16 step apart
        assert torch.allclose(a, b, rtol=2**-7, atol=1e-4)


def test_packed_linear_copies_and_pickles():
    layer = PackedLinear(_linear())
    x = torch.randn(2, 64)
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert torch.equal(clone(x), layer(x))
        assert (clone._packed is None) == (layer._packed is None)


def test_packed_linear_bad_inputs():
    with pytest.raises(TypeError, match="nn.Linear"):
        PackedLinear(nn.Conv2d(3, 3, 3))
    with pytest.raises(ValueError, match="64 features"):
        PackedLinear(_linear())(torch.randn(2, 63))


def test_pack_linears_replaces_fuses_and_skips():
    torch.manual_seed(0)
    model = nn.Sequential(
        NormedLayer(16, 32, kind="linear", norm="layer"),  # LayerNorm -> Linear -> ReLU: ReLU fused in
        NormedLayer(32, 8, kind="linear", norm="none", activation=False),
        nn.Linear(8, 4),
    )
    x = torch.randn(5, 16)
    with torch.no_grad():
        hidden_ref = model[0](x)
        ref = model(x)
    fast = copy.deepcopy(model)
    assert pack_linears(fast, skip=[fast[2]], bfloat16_outputs=[fast[0]]) == 2
    assert isinstance(fast[0].layer, PackedLinear) and fast[0].layer.relu and not fast[0].activation
    assert isinstance(fast[1].layer, PackedLinear) and not fast[1].layer.relu
    assert fast[0].layer.out_dtype == torch.bfloat16 and fast[1].layer.out_dtype is None
    assert type(fast[2]) is nn.Linear and fast[2].weight.dtype == torch.float32  # skipped
    with torch.no_grad():
        hidden = fast[0](x)
        out = fast[2](fast[1](hidden.float()))
    assert hidden.dtype == torch.bfloat16 and (hidden >= 0).all()
    assert torch.allclose(hidden.float(), hidden_ref, atol=0.05)
    assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=0.05) and not torch.equal(out, ref)
    assert pack_linears(fast) == 1  # only the skipped layer was left


def test_bfloat16_linears_keeps_float32_interface():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(3, 8)
    ref = model(x)
    assert bfloat16_linears([model]) == 2
    out = model(x)
    assert model[0].weight.dtype == torch.bfloat16 and out.dtype == torch.float32
    assert torch.allclose(out, ref, atol=0.05)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_packed_conv_is_the_conv_with_fused_relu_across_shapes(dtype):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3, padding=1).to(dtype)
    plain, fused = PackedConv2d(conv), PackedConv2d(conv, relu=True)
    for shape in [(1, 8, 12, 12), (3, 8, 12, 12), (1, 8, 7, 9), (1, 8, 12, 12)]:
        x = torch.randn(shape).to(dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ref = conv(x)
        y, yr = plain(x), fused(x)
        assert y.dtype == dtype and y.shape == ref.shape
        tol = 1e-5 if dtype == torch.float32 else 2e-2
        torch.testing.assert_close(y, ref, rtol=tol, atol=tol)
        torch.testing.assert_close(yr, ref.clamp_min(0), rtol=tol, atol=tol)
        assert (ref < 0).any() and (yr >= 0).all()
    if torch.backends.mkldnn.is_available() and (dtype == torch.float32 or onednn_bf16_supported()):
        assert len(plain._packed) == 3  # one packed weight per input shape
    else:  # no oneDNN bfloat16 on this CPU (AVX2 only): the plain conv ran, nothing was packed
        assert plain._packed == {}


def test_packed_conv_fallback_copies_and_bad_inputs():
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    layer = PackedConv2d(conv, relu=True)
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        ref = conv(x).clamp_min(0)
    layer.weight.data = layer.weight.data.double()  # float64 is not a oneDNN dtype: the F.conv2d fallback
    torch.testing.assert_close(layer(x.double()).float(), ref, rtol=1e-5, atol=1e-5)
    assert layer._packed == {}
    layer = PackedConv2d(conv, relu=True)
    layer(x)
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert clone._packed == {} and torch.equal(clone(x), layer(x))
    with pytest.raises(TypeError, match="nn.Conv2d"):
        PackedConv2d(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="numeric zero padding"):
        PackedConv2d(nn.Conv2d(4, 4, 3, padding="same"))
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\)"):
        layer(torch.randn(2, 3, 6, 6))


def test_pack_convs_fuses_normed_layer_relus():
    torch.manual_seed(2)
    model = nn.Sequential(
        NormedLayer(3, 8, kind="conv2d", norm="none"),  # conv (bias) -> ReLU
        NormedLayer(8, 8, kind="conv2d", norm="group", activation=False),
        nn.Conv2d(8, 2, 1),
    )
    x = torch.randn(2, 3, 10, 10)
    with torch.no_grad():
        ref = model(x)
    assert pack_convs(model) == 3
    assert model[0].layer.relu and not model[0].activation and not model[1].layer.relu
    assert isinstance(model[2], PackedConv2d) and not model[2].relu
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)

"""Encoder/decoder shapes, parameter counts of the official config (spec section 11), LayerNorm eps."""
import pytest
import torch
from torch import nn

from agents.genrl.networks import ChannelLayerNorm, ConvDecoder, ConvEncoder
from agents.genrl.world_model import WorldModel, WorldModelConfig


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_official_parameter_counts_match_reference():
    with torch.device("meta"):
        wm = WorldModel(WorldModelConfig.official(action_dim=6))
    assert _count(wm.encoder) == 1_552_752
    assert _count(wm.rssm) == 12_082_176
    assert _count(wm.decoder) == 9_580_083
    assert _count(wm.reward_head) == 5_516_543
    assert _count(wm) == 28_731_554


def test_encoder_spatial_sizes_and_embedding():
    enc = ConvEncoder(depth=48)
    convs = [m for m in enc.net if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (3, 48, (4, 4), (2, 2), (0, 0)), (48, 96, (4, 4), (2, 2), (0, 0)),
        (96, 192, (4, 4), (2, 2), (0, 0)), (192, 384, (4, 4), (2, 2), (0, 0))]
    x = torch.zeros(1, 3, 64, 64)
    sizes = []
    for m in enc.net:
        x = m(x)
        if isinstance(m, nn.Conv2d):
            sizes.append(x.shape[-1])
    assert sizes == [31, 14, 6, 2]
    assert enc(torch.rand(2, 3, 64, 64)).shape == (2, 1536)


def test_encoder_flattens_in_chw_order():
    enc = ConvEncoder(depth=4)
    x = torch.rand(3, 3, 64, 64)
    assert torch.allclose(enc(x), enc.net(x).reshape(3, -1), atol=1e-5)


def test_decoder_shapes_and_first_layer_is_transposed_conv():
    dec = ConvDecoder(1024, depth=48)
    convs = [m for m in dec.net if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
        (1536, 192, 5), (192, 96, 5), (96, 48, 6), (48, 3, 6)]
    assert dec.linear.in_features == 1024 and dec.linear.out_features == 1536
    small = ConvDecoder(64, depth=4)
    z = torch.randn(5, 64)
    # the matmul shortcut of the 1x1 first layer equals running the plain layer stack
    plain = small.net(small.linear(z).reshape(5, 128, 1, 1))
    assert small(z).shape == (5, 3, 64, 64)
    assert torch.allclose(small(z), plain, atol=1e-5)


def test_layernorm_eps_per_layer():
    wm = WorldModel(WorldModelConfig.small())
    conv_lns = [m for m in list(wm.encoder.modules()) + list(wm.decoder.modules()) if isinstance(m, ChannelLayerNorm)]
    assert len(conv_lns) == 4 + 3
    assert all(m.eps == 1e-3 for m in conv_lns)
    vector_lns = [m for m in list(wm.rssm.modules()) + list(wm.reward_head.modules())
                  if isinstance(m, nn.LayerNorm) and not isinstance(m, ChannelLayerNorm)]
    # img_in, GRU norm, prior hidden, posterior hidden, reward MLP (2 blocks in the small config)
    assert len(vector_lns) == 4 + 2
    assert all(m.eps == 1e-5 for m in vector_lns)


def test_channel_layernorm_normalises_each_pixel_over_channels():
    ln = ChannelLayerNorm(5, eps=1e-3)
    x = torch.randn(2, 5, 3, 3)
    y = ln(x)
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    assert torch.allclose(y, (x - mean) / torch.sqrt(var + 1e-3), atol=1e-5)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(N, 3, 64, 64\)"):
        ConvEncoder(4)(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="ConvDecoder expects"):
        ConvDecoder(16, 4)(torch.zeros(2, 15))


@pytest.mark.parametrize("c_in,c_out,k,size", [(6, 3, 6, 7), (4, 5, 4, 5), (3, 2, 2, 3)])
def test_subpixel_transposed_conv_equals_conv_transpose2d(c_in, c_out, k, size):
    from agents.genrl.networks import conv_transpose_subpixel

    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(c_in, c_out, k, 2)
    x = torch.randn(2, c_in, size, size, requires_grad=True)
    ref = layer(x)
    out = conv_transpose_subpixel(x, layer.weight, layer.bias)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-5)
    g_ref = torch.autograd.grad(ref.square().sum(), [x, layer.weight])
    g_out = torch.autograd.grad(out.square().sum(), [x, layer.weight])
    for a, b in zip(g_ref, g_out):
        assert torch.allclose(a, b, atol=1e-4)
    with pytest.raises(ValueError, match="even kernel"):
        conv_transpose_subpixel(x, torch.zeros(c_in, 1, 5, 5), torch.zeros(1))

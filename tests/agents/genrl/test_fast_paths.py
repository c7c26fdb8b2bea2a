"""The world model's fast training path equals the plain computation it replaces, up to float rounding:
phase-layout images (space-to-depth) shared by encoder and loss, transposed convs as ordinary convs, the
summed squared error with its chunked sum."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agents.genrl.networks import (ConvDecoder, ConvEncoder, conv_transpose_channels_last, image_phases,
                                   phases_to_images)
from agents.genrl.rssm import LatentState
from agents.genrl.world_model import WorldModel, WorldModelConfig, kl_balance_loss, summed_squared_error


def _obs(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8, generator=g)


def test_image_phases_is_an_exact_space_to_depth_of_the_preprocessed_image():
    obs = _obs(3)
    phases = image_phases(obs)
    assert phases.shape == (3, 12, 32, 32) and phases.is_contiguous(memory_format=torch.channels_last)
    ref = obs.float() / 255.0 - 0.5
    assert torch.equal(phases_to_images(phases), ref)  # the same floats, only moved
    # channel a * 6 + b * 3 + c at (i, j) is colour c of pixel (2i + a, 2j + b)
    for a, b, c in [(0, 0, 0), (1, 0, 2), (0, 1, 1), (1, 1, 2)]:
        assert torch.equal(phases[:, a * 6 + b * 3 + c], ref[:, c, a::2, b::2])
    with pytest.raises(ValueError, match="uint8"):
        image_phases(obs.float())
    with pytest.raises(ValueError, match="12 channels"):
        phases_to_images(torch.zeros(1, 3, 32, 32))


def test_encoder_on_phases_equals_encoder_on_images():
    torch.manual_seed(0)
    enc = ConvEncoder(depth=4)
    obs = _obs(4, 1)
    ref = enc.net(obs.float() / 255 - 0.5).flatten(1)  # the plain NCHW stack of layers
    out = enc.forward_phases(image_phases(obs))
    assert torch.allclose(out, ref, atol=1e-5)
    g_ref = torch.autograd.grad(ref.square().sum(), enc.net[0].weight)[0]
    g_out = torch.autograd.grad(enc.forward_phases(image_phases(obs)).square().sum(), enc.net[0].weight)[0]
    assert torch.allclose(g_out, g_ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="12, 32, 32"):
        enc.forward_phases(torch.zeros(1, 3, 64, 64))


def test_decoder_phases_equal_the_plain_transposed_conv_stack():
    torch.manual_seed(0)
    dec = ConvDecoder(in_dim=10, depth=4)
    z = torch.randn(3, 10)
    x = dec.linear(z).reshape(3, 32 * 4, 1, 1)
    ref = dec.net(x)  # nn.ConvTranspose2d / ChannelLayerNorm / SiLU as declared, NCHW
    phases = dec.forward_phases(z)
    assert torch.allclose(phases_to_images(phases), ref, atol=1e-5)
    assert torch.allclose(dec(z), ref, atol=1e-5)
    params = [dec.linear.weight, dec.net[6].weight, dec.net[-1].weight, dec.net[-1].bias]
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    g_out = torch.autograd.grad(phases_to_images(dec.forward_phases(z)).square().sum(), params)
    for a, b in zip(g_ref, g_out):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c_in,c_out,k,size", [(6, 8, 6, 7), (3, 2, 4, 5)])
def test_conv_transpose_channels_last_equals_conv_transpose2d(c_in, c_out, k, size):
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(c_in, c_out, k, 2)
    x = torch.randn(2, c_in, size, size, requires_grad=True)
    ref = layer(x)
    out = conv_transpose_channels_last(x, layer.weight, layer.bias)
    assert out.shape == ref.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, ref, atol=1e-5)
    for a, b in zip(torch.autograd.grad(ref.square().sum(), [x, layer.weight, layer.bias]),
                    torch.autograd.grad(out.square().sum(), [x, layer.weight, layer.bias])):
        assert torch.allclose(a, b, atol=1e-4)


def test_summed_squared_error_value_and_gradient():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(8, 12, 32, 32, generator=g).contiguous(memory_format=torch.channels_last).requires_grad_()
    target = torch.randn(8, 12, 32, 32, generator=g)
    out = summed_squared_error(pred, target)
    exact = ((pred.detach().double() - target.double()) ** 2).sum().item()
    assert out.item() == pytest.approx(exact, rel=1e-6)
    (grad,) = torch.autograd.grad(3.0 * out, pred)
    assert torch.allclose(grad, 6.0 * (pred.detach() - target), atol=1e-5)
    assert torch.equal(target, target.clone())  # the target is left untouched
    with pytest.raises(ValueError, match="differ"):
        summed_squared_error(pred, target[:4])
    with pytest.raises(ValueError, match="must not require grad"):
        summed_squared_error(pred, target.requires_grad_())
    again = summed_squared_error(pred, target.detach())
    again.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once"):
        again.backward()


def _plain_loss(wm: WorldModel, batch: dict) -> torch.Tensor:
    """The loss computed the straightforward way on the same modules (NCHW images, nn layers, mse_loss)."""
    c = wm.config
    obs = batch["observation"]
    b, t = obs.shape[:2]
    images = obs.float() / 255.0 - 0.5
    embed = wm.encoder.net(images.flatten(0, 1)).flatten(1).reshape(b, t, -1)
    post, prior = wm.rssm.observe(embed, batch["action"], batch["is_first"])
    kl, _ = kl_balance_loss(wm.rssm.probs(post.logits), wm.rssm.probs(prior.logits), c.kl_balance, c.kl_free)
    x = wm.decoder.linear(post.stoch.flatten(0, 1)).reshape(b * t, 32 * c.cnn_depth, 1, 1)
    recon = wm.decoder.net(x).reshape(b, t, 3, 64, 64)
    image = F.mse_loss(recon, images, reduction="sum") / (b * t)
    feat = LatentState(post.deter, post.stoch, post.logits).feature().detach()
    reward = -wm.reward_head.log_prob(wm.reward_head(feat), batch["reward"]).mean()
    return c.kl_scale * kl + image + reward


def test_world_model_loss_and_gradients_equal_the_plain_computation():
    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    b, t = 2, 5
    batch = {"observation": _obs(b * t, 3).reshape(b, t, 3, 64, 64), "action": torch.rand(b, t, 2) * 2 - 1,
             "reward": torch.rand(b, t), "is_first": torch.zeros(b, t, dtype=torch.bool)}
    batch["is_first"][:, 0] = True
    torch.manual_seed(7)
    loss, _, _ = wm.loss(batch)
    grads = torch.autograd.grad(loss, list(wm.parameters()), allow_unused=True)
    torch.manual_seed(7)  # the same posterior samples
    ref = _plain_loss(wm, batch)
    ref_grads = torch.autograd.grad(ref, list(wm.parameters()), allow_unused=True)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    for (name, _), g, r in zip(wm.named_parameters(), grads, ref_grads):
        assert (g is None) == (r is None), name
        if g is not None:
            assert torch.allclose(g, r, rtol=1e-3, atol=1e-4 * r.abs().max().item() + 1e-7), name

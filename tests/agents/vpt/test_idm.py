"""The IDM network: 3D conv front, non-causal attention, unused lastlayer, head layout."""

from __future__ import annotations

import pytest
import torch

from agents.vpt.idm import IDMNetwork


@pytest.fixture(scope="module")
def idm():
    torch.manual_seed(0)
    net = IDMNetwork("tiny").eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


def _frames(t=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, t, 32, 32, 3), dtype=torch.uint8, generator=g)


def test_shapes_and_predict(idm):
    with torch.no_grad():
        out = idm(_frames())
    assert out["buttons"].shape == (1, 8, 20, 2) and out["camera"].shape == (1, 8, 2, 11)
    pred = idm.predict(_frames())
    assert pred["buttons"].shape == (1, 8, 20) and pred["camera"].shape == (1, 8, 2)
    assert set(pred["buttons"].unique().tolist()) <= {0, 1}


def test_conv3d_mixes_plus_minus_two_frames():
    """out[t] = sum_k w[k] * in[t + k - 2] with zero padding in time."""
    torch.manual_seed(1)
    conv = IDMNetwork("tiny").net.conv3d_layer
    x = torch.rand(1, 3, 6, 2, 2)
    out = conv(x)
    w, b = conv.layer.weight[:, :, :, 0, 0], conv.layer.bias  # (C_out, 3, 5)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 0, 2, 2))
    for t in range(6):
        want = torch.einsum("ock,ckhw->ohw", w, padded[0, :, t : t + 5]) + b[:, None, None]
        torch.testing.assert_close(out[0, :, t], torch.relu(want), rtol=1e-5, atol=1e-6)


def test_attention_is_non_causal(idm):
    a = _frames(seed=1)
    b = a.clone()
    b[:, -1] = 255 - b[:, -1]
    with torch.no_grad():
        oa, ob = idm(a), idm(b)
    # the first frame's prediction depends on the last frame (far beyond the conv's +-2 reach)
    assert not torch.allclose(oa["buttons"][:, 0], ob["buttons"][:, 0])


def test_lastlayer_is_unused(idm):
    x = _frames(seed=2)
    with torch.no_grad():
        before = idm(x)["camera"]
        saved = idm.net.lastlayer.layer.weight.clone()
        idm.net.lastlayer.layer.weight.mul_(3.0)
        after = idm(x)["camera"]
        idm.net.lastlayer.layer.weight.copy_(saved)
    assert torch.equal(before, after)

"""Connector (VideoSSM) and aligner: sizes, conditioning, teacher forcing, KL weighting, generation."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agents.genrl.aligner import Aligner, aligner_loss, lafite_noise
from agents.genrl.connector import (
    Connector, ConnectorConfig, connector_update, decode_prompt, make_connector_optimizer,
)
from agents.genrl.rssm import LatentState
from agents.genrl.world_model import WorldModel, WorldModelConfig


def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_official_parameter_counts():
    with torch.device("meta"):
        conn = Connector(ConnectorConfig())
    assert _count(conn) == 14_592_512
    assert _count(conn.aligner) == 1_972_736
    assert _count(conn.initial_mlp) == 2_636_800
    assert conn.action_dim == 520 and conn.rssm.post_net is None


def _tiny(**kw):
    torch.manual_seed(0)
    return Connector(ConnectorConfig(embed_dim=16, n_frames=4, deter=8, hidden=8, stoch=3, classes=4,
                                     aligner_bottleneck=8, **kw))


def test_embedding_becomes_scaled_action_with_zero_temporal_dims():
    conn = _tiny()
    e = F.normalize(torch.randn(2, 16), dim=-1)
    a = conn.embed_to_action(e)
    assert a.shape == (2, 20)
    assert torch.allclose(a[:, :16], e * 4.0)  # sqrt(16)
    assert torch.equal(a[:, 16:], torch.zeros(2, 4))
    assert math.sqrt(512) == pytest.approx(22.627, abs=1e-3)
    with pytest.raises(ValueError, match="size 16"):
        conn.embed_to_action(torch.zeros(2, 15))


def test_each_chunk_uses_the_embedding_of_its_own_frames():
    conn = _tiny()  # n_frames 4
    clip = torch.arange(12.0).view(1, 12, 1).expand(1, 12, 16)
    e = conn.chunk_embeddings(clip)
    assert e[0, :, 0].tolist() == [3.0] * 4 + [7.0] * 4 + [11.0] * 4
    with pytest.raises(ValueError, match="multiple of n_frames=4"):
        conn.chunk_embeddings(torch.zeros(1, 10, 16))


def test_teacher_forcing_uses_previous_posterior_sample_only():
    conn = _tiny()
    action = conn.embed_to_action(F.normalize(torch.randn(2, 6, 16), dim=-1))
    post = F.one_hot(torch.randint(0, 4, (2, 6, 3)), 4).float().flatten(-2)
    torch.manual_seed(1)
    base = conn.teacher_forced_logits(post, action)
    changed = post.clone()
    changed[:, 3] = F.one_hot(torch.tensor([[0, 1, 2]] * 2), 4).float().flatten(-2)
    assert not torch.equal(changed[:, 3], post[:, 3])
    torch.manual_seed(1)
    other = conn.teacher_forced_logits(changed, action)
    assert torch.equal(base[:, :4], other[:, :4])  # steps 0..3 do not see s_3
    assert not torch.allclose(base[:, 4], other[:, 4])  # step 4 is conditioned on s_3


def test_connector_kl_value_and_gradient_weight():
    conn = _tiny()
    b, t = 2, 8
    clip = F.normalize(torch.randn(b, t, 16), dim=-1)
    post_logits = torch.randn(b, t, 3, 4) * 2
    post_probs = 0.99 * torch.softmax(post_logits, -1) + 0.01 / 4
    post = LatentState(torch.zeros(b, t, 8), F.one_hot(post_probs.argmax(-1), 4).float().flatten(-2), post_logits)
    torch.manual_seed(3)
    loss, metrics = conn.loss(post, post_probs, clip)
    torch.manual_seed(3)
    action = conn.embed_to_action(conn.chunk_embeddings(clip))
    logits = conn.teacher_forced_logits(post.stoch, action)
    q = conn.rssm.probs(logits)
    p_np, t_np = q.detach().double().numpy(), post_probs.double().numpy()
    kl_np = (p_np * (np.log(p_np) - np.log(t_np))).sum((-2, -1)).mean()  # KL(connector || posterior)
    assert metrics["connector_kl"] == pytest.approx(kl_np, rel=1e-5)
    assert "connector_initial_kl" in metrics and metrics["aligner_loss"] > 0
    # gradient of the KL part is 0.8 x the gradient of mean KL
    params = list(conn.rssm.parameters())
    kl_only = 0.8 * (q * (q.log() - post_probs.log())).sum((-2, -1)).mean() + 0.2 * (
        q.detach() * (q.detach().log() - post_probs.log())).sum((-2, -1)).mean()
    g1 = torch.autograd.grad(kl_only, params, retain_graph=True)
    plain = (q * (q.log() - post_probs.log())).sum((-2, -1)).mean()
    g2 = torch.autograd.grad(plain, params)
    for a, c in zip(g1, g2):
        assert torch.allclose(a, 0.8 * c, atol=1e-6)


def test_initial_state_keeps_straight_through_gradient():
    conn = _tiny()
    init = conn.initial(conn.embed_to_action(F.normalize(torch.randn(2, 16), dim=-1)))
    (g,) = torch.autograd.grad(init.stoch.sum() + (init.stoch * torch.randn_like(init.stoch)).sum(),
                               conn.initial_mlp.out.weight)
    assert g.abs().sum() > 0


def test_aligner_structure_and_skip_order():
    torch.manual_seed(0)
    al = Aligner(embed_dim=8, bottleneck=4)
    e = torch.randn(3, 8)
    d0 = al.down[0].act(al.down[0].norm(al.down[0].linear(e))) + e
    d1 = al.down[1].act(al.down[1].norm(al.down[1].linear(d0))) + al.down[1].proj(d0)
    m = al.mid[1](al.mid[0](d1))
    x = torch.cat([m, d1], -1)
    u0 = al.up[0].linear(x) + x  # no LayerNorm, no activation, identity residual
    y = torch.cat([u0, d0], -1)
    u1 = F.silu(al.up[1].norm(al.up[1].linear(y))) + al.up[1].proj(y)
    assert torch.allclose(al(e), u1, atol=1e-6)
    assert isinstance(al.up[0].norm, torch.nn.Identity) and al.up[1].norm.eps == 1e-5


def test_lafite_noise_and_aligner_loss():
    e = F.normalize(torch.randn(5, 8), dim=-1)
    g = torch.Generator().manual_seed(0)
    noisy = lafite_noise(e, 0.5, g)
    n = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    expected = F.normalize(0.5 * e + 0.5 * n / n.norm(dim=-1, keepdim=True), dim=-1)
    assert torch.allclose(noisy, expected, atol=1e-6)
    assert torch.allclose(lafite_noise(e, 0.0), e, atol=1e-6)
    al = Aligner(8, 4)
    loss = aligner_loss(al, e, strength=0.5, generator=torch.Generator().manual_seed(0))
    out = F.normalize(al(expected), dim=-1)
    assert loss.item() == pytest.approx((1 - (out * e).sum(-1)).mean().item(), rel=1e-5)


def test_connector_training_reduces_kl():
    conn = _tiny()
    opt = make_connector_optimizer(conn)
    for group in opt.param_groups:
        group["lr"] = 1e-2
    g = torch.Generator().manual_seed(0)
    clip = F.normalize(torch.randn(4, 8, 16, generator=g), dim=-1)
    post_logits = torch.randn(4, 8, 3, 4, generator=g) * 3
    post_probs = 0.99 * torch.softmax(post_logits, -1) + 0.01 / 4
    post = LatentState(torch.zeros(4, 8, 8), F.one_hot(post_probs.argmax(-1), 4).float().flatten(-2), post_logits)
    kls = [connector_update(conn, opt, post, post_probs, clip)["connector_kl"] for _ in range(40)]
    assert np.mean(kls[-5:]) < 0.75 * np.mean(kls[:5]), kls


def test_video_imagine_and_decode_prompt():
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16, aligner_bottleneck=8))
    e = F.normalize(torch.randn(2, 16), dim=-1)
    states = conn.video_imagine(e, steps=5, sample=False)
    assert states.stoch.shape == (2, 5, 64) and states.deter.shape == (2, 5, 64)
    one_hot = states.stoch.detach().view(2, 5, 8, 8)
    assert torch.allclose(one_hot, F.one_hot(one_hot.argmax(-1), 8).float(), atol=1e-6)  # mode steps
    frames = decode_prompt(wm, conn, e[0], steps=4)
    assert frames.dtype == torch.uint8 and frames.shape == (1, 4, 64, 64, 3)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        conn.video_imagine(e)

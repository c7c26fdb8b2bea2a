"""Action heads (temperature, Gumbel-max order, log-probs, KL) and the EWMA value normaliser."""

from __future__ import annotations

import math

import pytest
import torch

from agents.vpt.heads import ActionHeads, CategoricalHead, EwmaNormalizer, ValueHead, gumbel_max


def test_temperature_divides_logits():
    torch.manual_seed(0)
    head = CategoricalHead(4, 5, temperature=2.0)
    x = torch.randn(3, 4)
    want = torch.log_softmax(head.linear_layer(x) / 2.0, -1)
    torch.testing.assert_close(head(x), want)
    with pytest.raises(ValueError, match="temperature"):
        CategoricalHead(4, 5, temperature=0.0)


def test_gumbel_order_camera_first_then_buttons():
    torch.manual_seed(0)
    heads = ActionHeads(6, n_buttons=7, n_camera=5)
    logp = heads(torch.randn(4, 6))
    g = torch.Generator().manual_seed(123)
    got = heads.sample(logp, generator=g)
    g = torch.Generator().manual_seed(123)
    u_cam = torch.rand(4, 5, generator=g)
    u_btn = torch.rand(4, 7, generator=g)
    assert torch.equal(got["camera"], torch.argmax(logp["camera"] - torch.log(-torch.log(u_cam)), -1))
    assert torch.equal(got["buttons"], torch.argmax(logp["buttons"] - torch.log(-torch.log(u_btn)), -1))
    # and the other order would give different draws here
    g = torch.Generator().manual_seed(123)
    u_btn_first = torch.rand(4, 7, generator=g)
    assert not torch.equal(u_btn_first, u_btn)


def test_deterministic_is_argmax_and_sampling_follows_probabilities():
    logp = {"buttons": torch.log(torch.tensor([[0.1, 0.6, 0.3]])), "camera": torch.log(torch.tensor([[0.8, 0.2]]))}
    heads = ActionHeads(2, 3, 2)
    det = heads.sample(logp, deterministic=True)
    assert det["buttons"].item() == 1 and det["camera"].item() == 0
    g = torch.Generator().manual_seed(0)
    n = 20000
    big = {k: v.expand(n, -1) for k, v in logp.items()}
    s = heads.sample(big, generator=g)
    freq = torch.bincount(s["buttons"], minlength=3).float() / n
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.6, 0.3]), atol=0.015, rtol=0)


def test_gumbel_max_never_uses_u_equal_one():
    g = torch.Generator().manual_seed(0)
    out = gumbel_max(torch.zeros(1000, 3), generator=g)
    assert out.min() >= 0 and out.max() <= 2


def test_log_prob_entropy_kl_sum_over_heads():
    torch.manual_seed(1)
    heads = ActionHeads(3, 4, 3)
    p, q = heads(torch.randn(2, 3)), heads(torch.randn(2, 3))
    a = {"buttons": torch.tensor([1, 3]), "camera": torch.tensor([0, 2])}
    want = p["buttons"][torch.arange(2), a["buttons"]] + p["camera"][torch.arange(2), a["camera"]]
    torch.testing.assert_close(heads.log_prob(p, a), want)
    with pytest.raises(ValueError, match=r"buttons actions must be in \[0, 4\)"):
        heads.log_prob(p, {"buttons": torch.tensor([1, 4]), "camera": torch.tensor([0, 0])})
    ent = sum(-(p[k].exp() * p[k]).sum(-1) for k in ("buttons", "camera"))
    torch.testing.assert_close(heads.entropy(p), ent)
    kl = heads.kl_divergence(p, q)
    assert (kl > 0).all()
    torch.testing.assert_close(heads.kl_divergence(p, p), torch.zeros(2))


def test_idm_style_heads_reduce_over_sub_actions():
    heads = ActionHeads(3, n_buttons=2, n_camera=11, button_shape=(20,), camera_shape=(2,))
    logp = heads(torch.randn(5, 3))
    assert logp["buttons"].shape == (5, 20, 2) and logp["camera"].shape == (5, 2, 11)
    a = heads.sample(logp, deterministic=True)
    assert heads.log_prob(logp, a).shape == (5,)


def test_ewma_denormalise_formula():
    norm = EwmaNormalizer(1)
    with torch.no_grad():
        norm.running_mean.fill_(0.3)
        norm.running_mean_sq.fill_(0.5)
        norm.debiasing_term.fill_(0.5)
    mean, var = 0.3 / 0.5, 0.5 / 0.5 - (0.3 / 0.5) ** 2
    got = norm.denormalize(torch.tensor([[[2.0]]]))
    assert got.item() == pytest.approx(2.0 * math.sqrt(var) + mean, rel=1e-6)
    # fresh statistics: debias floored at 1e-5, variance floored at 1e-2
    assert EwmaNormalizer(1).denormalize(torch.tensor([1.0])).item() == pytest.approx(0.1)


def test_value_loss_updates_statistics_once():
    head = ValueHead(2)
    target = torch.full((4, 3, 1), 5.0)
    head.loss(torch.zeros(4, 3, 1), target)
    assert head.normalizer.debiasing_term.item() == pytest.approx(1 - 0.99999, rel=1e-4)
    assert head.normalizer.running_mean.item() == pytest.approx(5 * (1 - 0.99999), rel=1e-4)

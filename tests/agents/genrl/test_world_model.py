"""World-model loss numerics: KL balancing with free nats, image and reward losses, optimiser step."""
import math

import numpy as np
import pytest
import torch

from agents.genrl.world_model import (
    TwoHotHead, WorldModel, WorldModelConfig, kl_balance_loss, make_optimizer, update,
)


def _np_kl(p, q):
    return (p * (np.log(p) - np.log(q))).sum((-2, -1))


def _probs(seed, shape, scale):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(*shape, generator=g) * scale, -1)


def test_kl_balance_and_free_nats_against_independent_numpy():
    # (B=2, T=3) steps of 4 variables x 5 classes; small scale -> some KLs under 1 nat, large -> over
    post = torch.cat([_probs(0, (2, 1, 4, 5), 0.3), _probs(1, (2, 2, 4, 5), 3.0)], 1)
    prior = torch.cat([_probs(2, (2, 1, 4, 5), 0.3), _probs(3, (2, 2, 4, 5), 3.0)], 1)
    kl = _np_kl(post.numpy().astype(np.float64), prior.numpy().astype(np.float64))
    assert (kl < 1).any() and (kl > 1).any()
    expected = 0.85 * np.maximum(kl, 1.0).mean() + 0.15 * np.maximum(kl, 1.0).mean()
    loss, value = kl_balance_loss(post, prior, balance=0.85, free=1.0)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert value.item() == pytest.approx(kl.mean(), rel=1e-5)
    # clamp-then-mean differs from mean-then-clamp (free_avg False)
    assert expected != pytest.approx(max(kl.mean(), 1.0), rel=1e-3)


def test_kl_balance_gradients_are_split_085_015():
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([0.2, 3.0, 3.0]).view(1, 3, 1, 1)  # first step of each sequence under 1 nat
    post_logits = (torch.randn(2, 3, 4, 5, generator=g) * scale).requires_grad_()
    prior_logits = (torch.randn(2, 3, 4, 5, generator=g) * scale).requires_grad_()
    post, prior = torch.softmax(post_logits, -1), torch.softmax(prior_logits, -1)
    loss, _ = kl_balance_loss(post, prior, 0.85, 1.0)
    g_post, g_prior = torch.autograd.grad(loss, [post_logits, prior_logits], retain_graph=True)
    # independent: gradient of mean(max(1, KL)) with respect to each side alone
    kl = (post * (post.log() - prior.log())).sum((-2, -1))
    clamped = torch.where(kl > 1.0, kl, torch.ones_like(kl)).mean()
    r_post, r_prior = torch.autograd.grad(clamped, [post_logits, prior_logits])
    assert torch.allclose(g_post, 0.15 * r_post, atol=1e-6)
    assert torch.allclose(g_prior, 0.85 * r_prior, atol=1e-6)
    # steps under the free-nats floor contribute no gradient at all
    low = (kl <= 1.0).detach()
    assert low.any() and not low.all()
    assert torch.all(g_prior[low] == 0) and torch.all(g_post[low] == 0)


def test_two_hot_encoding_and_initial_reward_loss():
    head = TwoHotHead(8, layers=1, units=4)
    bins = head.bins
    assert bins.shape == (255,) and bins[0] == -20 and bins[-1] == 20 and abs(bins[127]) < 1e-6
    enc = head.two_hot(torch.tensor([0.0]))
    assert enc[0, 127].item() == pytest.approx(1.0, abs=1e-5) and enc.sum().item() == pytest.approx(1.0)
    step = (bins[1] - bins[0]).item()
    y = bins[130].item() + 0.3 * step
    value = math.copysign(math.expm1(abs(y)), y)  # symexp
    enc = head.two_hot(torch.tensor([value]))
    assert enc[0, 130].item() == pytest.approx(0.7, abs=1e-4)
    assert enc[0, 131].item() == pytest.approx(0.3, abs=1e-4)
    logits = head(torch.randn(6, 8))
    assert torch.equal(logits, torch.zeros(6, 255))  # zero-initialised output layer
    loss = -head.log_prob(logits, torch.randn(6)).mean()
    assert loss.item() == pytest.approx(math.log(255), rel=1e-6)


def _batch(b=2, t=4, action_dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    is_first = torch.zeros(b, t, dtype=torch.bool)
    is_first[:, 0] = True
    return {
        "observation": torch.randint(0, 256, (b, t, 3, 64, 64), dtype=torch.uint8, generator=g),
        "action": torch.rand(b, t, action_dim, generator=g) * 2 - 1,
        "reward": torch.rand(b, t, 1, generator=g),
        "is_first": is_first,
    }


def test_world_model_loss_is_sum_of_spec_terms():
    wm = WorldModel(WorldModelConfig.small(action_dim=3))
    batch = _batch()
    torch.manual_seed(5)
    loss, metrics, _ = wm.loss(batch)
    torch.manual_seed(5)
    post, prior = wm.observe(batch)
    p = wm.rssm.probs(post.logits).detach().double().numpy()
    q = wm.rssm.probs(prior.logits).detach().double().numpy()
    assert p.min() >= 0.01 / 8 - 1e-9  # unimix on the posterior
    kl_term = np.maximum(_np_kl(p, q), 1.0).mean()  # 0.85 x + 0.15 x of the same clamped value
    target = batch["observation"].double() / 255 - 0.5
    recon = wm.decode(post.stoch).detach().double()
    image = ((recon - target) ** 2).sum((-3, -2, -1)).mean().item()
    expected = 0.6 * kl_term + image + math.log(255)
    assert metrics["image_loss"] == pytest.approx(image, rel=1e-5)
    assert metrics["kl_loss"] == pytest.approx(kl_term, rel=1e-5)
    assert metrics["reward_loss"] == pytest.approx(math.log(255), rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_reward_head_gets_no_gradient_into_the_model():
    wm = WorldModel(WorldModelConfig.small(action_dim=3))
    batch = _batch()
    # make the reward head non-trivial so that its loss has a gradient with respect to its input
    torch.nn.init.normal_(wm.reward_head.mlp.out.weight)
    post, _ = wm.observe(batch)
    feat = post.feature()
    loss = -wm.reward_head.log_prob(wm.reward_head(feat.detach()), batch["reward"].squeeze(-1)).mean()
    loss.backward()
    assert all(p.grad is None for p in wm.encoder.parameters())
    assert wm.reward_head.mlp.out.weight.grad is not None


def test_optimizer_settings_and_decoupled_weight_decay():
    cfg = WorldModelConfig.small(action_dim=3)
    opt = make_optimizer(WorldModel(cfg))
    group = opt.param_groups[0]
    assert group["lr"] == 1e-4 and group["eps"] == 1e-8 and group["weight_decay"] == 0
    assert cfg.grad_clip == 1000 and cfg.weight_decay == 1e-6
    # with lr 0, one update multiplies every parameter by exactly (1 - weight_decay)
    cfg0 = WorldModelConfig.small(action_dim=3)
    cfg0.lr, cfg0.weight_decay = 0.0, 0.25
    wm = WorldModel(cfg0)
    before = {k: v.clone() for k, v in wm.named_parameters()}
    metrics = update(wm, make_optimizer(wm), _batch())
    assert metrics["grad_norm"] > 0
    for k, v in wm.named_parameters():
        assert torch.allclose(v, before[k] * 0.75, atol=1e-7), k


def test_update_changes_parameters_and_reports_metrics():
    wm = WorldModel(WorldModelConfig.small(action_dim=3))
    before = wm.encoder.net[0].weight.clone()
    metrics = update(wm, make_optimizer(wm), _batch())
    assert {"loss", "kl", "kl_loss", "image_loss", "reward_loss", "grad_norm"} <= set(metrics)
    assert not torch.equal(before, wm.encoder.net[0].weight)


def test_official_and_small_presets():
    off = WorldModelConfig.official(action_dim=6)
    assert (off.cnn_depth, off.deter, off.hidden, off.stoch, off.classes, off.unimix) == (48, 1024, 1024, 32, 32, 0.01)
    assert (off.kl_scale, off.kl_balance, off.kl_free, off.reward_bins) == (0.6, 0.85, 1.0, 255)
    small = WorldModelConfig.small(action_dim=2)
    assert (small.cnn_depth, small.deter, small.hidden, small.stoch, small.classes) == (8, 64, 64, 8, 8)
    assert WorldModelConfig.from_dict(small.to_dict()) == small
    with pytest.raises(ValueError, match="unknown WorldModelConfig keys"):
        WorldModelConfig.from_dict({"cnn_detph": 3})
    with pytest.raises(ValueError, match="deter must be a positive int"):
        WorldModelConfig(deter=0)


def test_bad_batches_raise_clear_errors():
    wm = WorldModel(WorldModelConfig.small(action_dim=3))
    batch = _batch()
    with pytest.raises(KeyError, match="is_first"):
        wm.loss({k: v for k, v in batch.items() if k != "is_first"})
    with pytest.raises(TypeError, match="uint8"):
        wm.loss({**batch, "observation": batch["observation"].float()})
    with pytest.raises(ValueError, match=r"batch\['action'\] must be \(2, 4, 3\)"):
        wm.loss({**batch, "action": torch.zeros(2, 4, 2)})
    bad = batch["action"].clone()
    bad[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        wm.loss({**batch, "action": bad})


def test_encode_matches_observe_embedding_path():
    wm = WorldModel(WorldModelConfig.small(action_dim=3))
    obs = _batch()["observation"]
    emb = wm.encode(obs)
    assert emb.shape == (2, 4, wm.encoder.embed_dim)
    assert torch.allclose(emb[1, 2], wm.encoder(obs[1, 2:3].float() / 255 - 0.5)[0], atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        wm.encode(obs.float())

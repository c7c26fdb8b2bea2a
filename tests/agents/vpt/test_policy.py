"""The VPT policy network: cached step-by-step inference equals a full-sequence forward, episode starts."""

from __future__ import annotations

import pytest
import torch

from agents.vpt.config import POLICY_PRESETS, PolicyConfig
from agents.vpt.policy import VPTPolicyNet


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    n = VPTPolicyNet("tiny").eval()
    with torch.no_grad():  # non-trivial norms/biases so that every parameter matters
        for p in n.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return n


def _frames(b, t, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, t, size, size, 3), dtype=torch.uint8, generator=g)


@torch.no_grad()
def test_cached_steps_equal_full_sequence_across_episode_starts(net):
    B, T = 3, 27  # longer than the tiny cache (maxlen 8), so the clipping matters
    obs = _frames(B, T)
    first = torch.zeros(B, T, dtype=torch.bool)
    first[:, 0] = True
    first[1, 12] = True
    first[2, 5] = True
    first[2, 6] = True
    full, _ = net(obs, first)
    for chunk in (1, 4, 9):
        state = net.initial_state(B)
        parts = []
        for s in range(0, T, chunk):
            out, state = net(obs[:, s : s + chunk], first[:, s : s + chunk], state)
            parts.append(out)
        for key in ("buttons", "camera"):
            step = torch.cat([p.logp[key] for p in parts], dim=1)
            torch.testing.assert_close(step, full.logp[key], rtol=0, atol=1e-5)
        torch.testing.assert_close(torch.cat([p.vpred for p in parts], 1), full.vpred, rtol=0, atol=1e-5)


@torch.no_grad()
def test_episode_start_forgets_the_past(net):
    obs = _frames(2, 20, seed=3)
    first = torch.zeros(2, 20, dtype=torch.bool)
    first[0, 11] = True
    out, _ = net(obs, first)
    fresh, _ = net(obs[:1, 11:])
    torch.testing.assert_close(out.logp["buttons"][:1, 11:], fresh.logp["buttons"], rtol=0, atol=1e-5)
    # without the flag the history does matter
    assert not torch.allclose(out.logp["buttons"][1:, 11:], net(obs[1:, 11:])[0].logp["buttons"], atol=1e-4)


@torch.no_grad()
def test_memory_is_clipped_to_maxlen_frames(net):
    """Each layer sees itself + maxlen-1 earlier frames, so frame 0 reaches at most layers*(maxlen-1)
    steps ahead (clipped causal), and nothing later."""
    reach = net.config.n_recurrence_layers * (net.config.maxlen - 1)
    obs = _frames(1, reach + 6, seed=4)
    other = obs.clone()
    other[:, 0] = 255 - other[:, 0]
    a, _ = net(obs)
    b, _ = net(other)
    assert not torch.allclose(a.logp["buttons"][:, reach], b.logp["buttons"][:, reach])
    torch.testing.assert_close(a.logp["buttons"][:, reach + 1 :], b.logp["buttons"][:, reach + 1 :], rtol=0, atol=0)


@torch.no_grad()
def test_batch_elements_are_independent(net):
    obs = _frames(3, 5, seed=5)
    batched, _ = net(obs)
    single, _ = net(obs[1:2])
    torch.testing.assert_close(batched.logp["camera"][1:2], single.logp["camera"], rtol=0, atol=1e-5)


@torch.no_grad()
def test_output_shapes_and_normalisation(net):
    out, state = net(_frames(2, 3))
    assert out.logp["buttons"].shape == (2, 3, 8641) and out.logp["camera"].shape == (2, 3, 121)
    assert out.vpred.shape == (2, 3) and out.latent.shape == (2, 3, 64)
    torch.testing.assert_close(out.logp["buttons"].exp().sum(-1), torch.ones(2, 3))
    assert len(state) == 2 and state[0][1].shape == (2, 8, 64)


def test_input_validation(net):
    with pytest.raises(ValueError, match="shape"):
        net(torch.zeros(2, 3, 64, 64, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        net(torch.zeros(2, 3, 32, 32, 3))
    with pytest.raises(ValueError, match="first must have shape"):
        net(torch.zeros(2, 3, 32, 32, 3, dtype=torch.uint8), torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="state has"):
        net(torch.zeros(1, 1, 32, 32, 3, dtype=torch.uint8), None, net.initial_state(1)[:1])
    with pytest.raises(ValueError, match="unknown VPT policy preset"):
        VPTPolicyNet("5x")


def test_config_validation_and_round_trip():
    for cfg in POLICY_PRESETS.values():
        assert PolicyConfig.from_dict(cfg.to_dict()) == cfg
        net_args, pi = cfg.to_official()
        assert PolicyConfig.from_official(net_args, pi) == cfg
    net_args, pi = POLICY_PRESETS["1x"].to_official()
    with pytest.raises(ValueError, match="recurrence_type"):
        PolicyConfig.from_official({**net_args, "recurrence_type": "multi_layer_lstm"}, pi)
    with pytest.raises(ValueError, match="missing required"):
        PolicyConfig.from_official({k: v for k, v in net_args.items() if k != "hidsize"}, pi)
    with pytest.raises(ValueError, match="unknown PolicyConfig keys"):
        PolicyConfig.from_dict({"kind": "vpt_policy", "hidsize": 8, "bogus": 1})
    with pytest.raises(ValueError, match="divisible"):
        PolicyConfig(hidsize=100, attention_heads=3)


def test_backward_reaches_every_trainable_parameter():
    """The in-place ops used at inference must not break autograd (BC/RL training backpropagates)."""
    torch.manual_seed(0)
    n = VPTPolicyNet("tiny").train()
    out, _ = n(_frames(2, 10))
    action = {"buttons": torch.zeros(2, 10, dtype=torch.long), "camera": torch.full((2, 10), 60)}
    loss = -n.pi_head.log_prob(out.logp, action).mean() + out.vpred.pow(2).mean()
    loss.backward()
    no_grad = [k for k, p in n.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert no_grad == [], no_grad

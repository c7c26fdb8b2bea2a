"""Categoricals (unimix, straight-through), the GRU gate formula, and observe/imagine semantics."""
import math

import numpy as np
import pytest
import torch

from agents.genrl.rssm import (
    RSSM, LatentState, LayerNormGRUCell, categorical_kl, mode_straight_through, sample_straight_through,
    unimix_probs,
)


def test_unimix_mixes_one_percent_uniform():
    logits = torch.tensor([[100.0, 0.0, 0.0, 0.0]])
    p = unimix_probs(logits, 0.01)
    assert torch.allclose(p, torch.tensor([[0.99 + 0.0025, 0.0025, 0.0025, 0.0025]]), atol=1e-6)
    q = unimix_probs(torch.randn(3, 32, 32) * 50, 0.01)
    assert q.min() >= 0.01 / 32 - 1e-7
    assert torch.allclose(q.sum(-1), torch.ones(3, 32))


def test_sample_is_one_hot_with_probs_gradient():
    torch.manual_seed(0)
    logits = torch.randn(4, 3, 5, requires_grad=True)
    p = unimix_probs(logits)
    s = sample_straight_through(p)
    # forward value is one-hot up to float rounding of (p - sg(p)), exactly as in the reference
    assert torch.allclose(s.detach().sum(-1), torch.ones(4, 3))
    assert torch.allclose(s.detach(), s.detach().round(), atol=1e-6)
    # the gradient of s with respect to p is the identity (straight-through p - sg(p))
    w = torch.randn_like(s)
    (g_s,) = torch.autograd.grad((s * w).sum(), logits, retain_graph=True)
    (g_p,) = torch.autograd.grad((p * w).sum(), logits)
    assert torch.allclose(g_s, g_p)


def test_sample_frequencies_follow_unimixed_probs():
    torch.manual_seed(0)
    p = unimix_probs(torch.tensor([[2.0, 0.0, -1.0, -50.0]]))
    draws = sample_straight_through(p.expand(20000, 4)).sum(0) / 20000
    assert torch.allclose(draws, p[0], atol=0.01)
    assert draws[3] > 0  # the 1% uniform mix gives the "impossible" class ~0.25%


def test_mode_is_argmax_with_log_prob_gradient():
    logits = torch.tensor([[0.5, 2.0, -1.0]], requires_grad=True)
    p = unimix_probs(logits)
    m = mode_straight_through(p)
    assert torch.allclose(m.detach(), torch.tensor([[0.0, 1.0, 0.0]]), atol=1e-6)
    w = torch.tensor([[1.0, -2.0, 0.5]])
    (g_m,) = torch.autograd.grad((m * w).sum(), logits, retain_graph=True)
    (g_l,) = torch.autograd.grad((torch.log(p) * w).sum(), logits)
    assert torch.allclose(g_m, g_l)


def test_categorical_kl_sums_over_variables():
    p = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]])
    q = torch.tensor([[[0.25, 0.75], [0.5, 0.5]]])
    expected = (0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
                + 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5))
    assert categorical_kl(p, q).item() == pytest.approx(expected, rel=1e-6)


def test_gru_gate_formula_on_hand_set_example():
    cell = LayerNormGRUCell(input_dim=1, size=1, update_bias=-1.0)
    with torch.no_grad():
        cell.linear.weight.copy_(torch.tensor([[1.0, 0.5], [-1.0, 2.0], [0.3, -0.7]]))
        cell.norm.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        cell.norm.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x, h = 0.8, -0.4
    # independent numpy computation of: LN(W [x; h]) -> reset, cand, update
    z = np.array([[1.0, 0.5], [-1.0, 2.0], [0.3, -0.7]]) @ np.array([x, h])
    zn = (z - z.mean()) / np.sqrt(z.var() + 1e-5) * np.array([1.0, 2.0, 0.5]) + np.array([0.1, -0.2, 0.3])
    sig = lambda v: 1 / (1 + np.exp(-v))
    reset, update = sig(zn[0]), sig(zn[2] - 1.0)
    cand = np.tanh(reset * zn[1])
    expected = update * cand + (1 - update) * h
    out = cell(torch.tensor([[x]]), torch.tensor([[h]]))
    assert out.item() == pytest.approx(expected, abs=1e-6)
    # the projected (sequence) path gives the same value
    out2 = cell.step_projected(cell.input_projection(torch.tensor([[x]])), torch.tensor([[h]]))
    assert out2.item() == pytest.approx(expected, abs=1e-6)
    assert cell.linear.bias is None


def _tiny(action_dim=2):
    torch.manual_seed(0)
    return RSSM(action_dim=action_dim, embed_dim=6, deter=5, hidden=7, stoch=3, classes=4)


def test_observe_matches_step_by_step_recurrence():
    rssm = _tiny()
    B, T = 3, 6
    embed, action = torch.randn(B, T, 6), torch.randn(B, T, 2)
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[:, 0] = True
    is_first[1, 3] = True
    post, prior = rssm.observe(embed, action, is_first, sample=False)
    # naive loop: step t uses action[t]; is_first zeroes previous state and action
    state = rssm.initial(B)
    for t in range(T):
        keep = (~is_first[:, t]).float()[:, None]
        prev = LatentState(state.deter * keep, state.stoch * keep, state.logits)
        step = rssm.img_step(prev, action[:, t] * keep, sample=False)
        assert torch.allclose(step.deter, post.deter[:, t], atol=1e-5)
        assert torch.allclose(step.logits, prior.logits[:, t], atol=1e-5)
        post_logits = rssm.posterior_logits(embed[:, t])
        assert torch.allclose(post_logits, post.logits[:, t], atol=1e-6)
        state = LatentState(step.deter, rssm.draw(post_logits, sample=False), post_logits)
        assert torch.allclose(state.stoch, post.stoch[:, t].detach(), atol=1e-6)


def test_posterior_ignores_recurrent_state_and_actions():
    rssm = _tiny()
    embed = torch.randn(2, 4, 6)
    is_first = torch.zeros(2, 4, dtype=torch.bool)
    p1, _ = rssm.observe(embed, torch.randn(2, 4, 2), is_first, sample=False)
    p2, _ = rssm.observe(embed, torch.randn(2, 4, 2), is_first, sample=False)
    assert torch.equal(p1.logits, p2.logits)
    assert not torch.allclose(p1.deter, p2.deter)


def test_action_index_convention():
    rssm = _tiny()
    embed, action = torch.randn(1, 5, 6), torch.randn(1, 5, 2)
    is_first = torch.zeros(1, 5, dtype=torch.bool)
    base, _ = rssm.observe(embed, action, is_first, sample=False)
    changed = action.clone()
    changed[:, 2] += 1.0
    post, _ = rssm.observe(embed, changed, is_first, sample=False)
    # action[2] is the action that led to x_2: it changes h_2 and later, not h_0, h_1
    assert torch.equal(post.deter[:, :2], base.deter[:, :2])
    assert not torch.allclose(post.deter[:, 2], base.deter[:, 2])


def test_is_first_resets_to_a_fresh_sequence():
    rssm = _tiny()
    embed, action = torch.randn(1, 6, 6), torch.randn(1, 6, 2)
    is_first = torch.zeros(1, 6, dtype=torch.bool)
    is_first[0, 3] = True
    post, _ = rssm.observe(embed, action, is_first, sample=False)
    fresh, _ = rssm.observe(embed[:, 3:], torch.zeros_like(action[:, 3:]).index_copy(
        1, torch.tensor([1, 2]), action[:, 4:]), torch.zeros(1, 3, dtype=torch.bool), sample=False)
    assert torch.allclose(post.deter[:, 3:], fresh.deter, atol=1e-6)


def test_imagine_shapes_and_stop_gradient_policy_input():
    rssm = _tiny()
    seen = []

    def policy(feat):
        seen.append(feat.requires_grad)
        return torch.tanh(feat[:, :2])

    start = rssm.initial(4)
    states, actions = rssm.imagine(start, policy, horizon=3)
    assert states.deter.shape == (4, 4, 5) and states.stoch.shape == (4, 4, 12) and actions.shape == (4, 4, 2)
    assert seen and not any(seen)
    opened = rssm.imagine_with_actions(start, torch.zeros(3, 4, 2))
    assert opened.deter.shape == (3, 4, 5)


def test_observe_rejects_bad_shapes():
    rssm = _tiny()
    with pytest.raises(ValueError, match="action size must be 2"):
        rssm.observe(torch.randn(1, 3, 6), torch.randn(1, 3, 3), torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="embedding size must be 6"):
        rssm.observe(torch.randn(1, 3, 5), torch.randn(1, 3, 2), torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="must match"):
        rssm.observe(torch.randn(1, 3, 6), torch.randn(1, 2, 2), torch.zeros(1, 3, dtype=torch.bool))


def test_obs_step_filtering_matches_observe():
    rssm = _tiny()
    B, T = 2, 5
    embed, action = torch.randn(B, T, 6), torch.randn(B, T, 2)
    is_first = torch.zeros(B, T, dtype=torch.bool)
    is_first[:, 0] = True
    is_first[0, 2] = True
    post, prior = rssm.observe(embed, action, is_first, sample=False)
    state = rssm.initial(B)
    for t in range(T):
        state, step_prior = rssm.obs_step(state, action[:, t], embed[:, t], is_first[:, t], sample=False)
        assert torch.allclose(state.deter, post.deter[:, t], atol=1e-5)
        assert torch.allclose(state.stoch, post.stoch[:, t], atol=1e-5)
        assert torch.allclose(step_prior.logits, prior.logits[:, t], atol=1e-5)

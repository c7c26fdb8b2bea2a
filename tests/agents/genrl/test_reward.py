"""GenRL's reward (spec section 4): score formula, b = 8 best-matching alignment on hand-built sequences,
the connector target (length 17, first state dropped, mode steps) and g_phi."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agents.genrl.connector import Connector, ConnectorConfig
from agents.genrl.reward import (
    MFWM,
    PromptReward,
    aligned_indices,
    aligned_reward,
    best_offsets,
    prompt_target,
    score,
)
from agents.genrl.world_model import WorldModel, WorldModelConfig

D = 24  # one-hot feature size for hand-built sequences


def onehots(indices, d=D):
    """(T,) indices -> (T, 1, d) one-hot features."""
    return torch.eye(d)[torch.as_tensor(indices)].unsqueeze(1)


def test_score_max_cosine_and_cosine_values():
    u = torch.tensor([2.0, 0.0])
    v = torch.tensor([1.0, 0.0])
    assert score(u, v).item() == pytest.approx(0.5)  # <u,v> / max(|u|,|v|)^2 = 2 / 4
    assert score(u, v, "cosine").item() == pytest.approx(1.0)
    assert score(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])).item() == 0.0
    w = torch.tensor([3.0, 4.0])
    assert score(w, w).item() == pytest.approx(1.0)
    assert score(torch.tensor([1.0, 1.0]), torch.tensor([1.0, -1.0]) * 2).item() == pytest.approx(0.0)
    assert score(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 1.0])).item() == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="unknown score function 'l2'"):
        score(u, v, "l2")


def test_alignment_finds_offset_and_shifts_targets():
    # targets tau_k = e_k; the agent idles (e_20) for 3 steps, then follows the target: a_{3+k} = e_k
    target = onehots(list(range(17)))
    agent = onehots([20, 20, 20] + list(range(14)))
    reward, offset = aligned_reward(agent, target, n_frames=8)
    assert offset.tolist() == [3]
    # steps before the match point are compared with tau_0 (=e_0, agent e_20 -> 0); then a_{3+k} vs tau_k -> 1
    assert reward.shape == (17, 1, 1)
    assert reward[:, 0, 0].tolist() == [0.0] * 3 + [1.0] * 14


def test_alignment_never_considers_offset_T_minus_b():
    # a perfect match only at offset 9 = T - b: the reference loops range(T - b) = 0..8, so it is not found;
    # all windows score 0 and the first offset (0) wins
    target = onehots(list(range(17)))
    agent = onehots([20] * 9 + list(range(8)))
    reward, offset = aligned_reward(agent, target, n_frames=8)
    assert offset.tolist() == [0]
    assert reward.abs().sum().item() == 0.0  # a_j = e_{j-9} compared with tau_j = e_j


def test_alignment_batch_partial_windows_and_values():
    # element 0 matches with offset 5 on 6 of 8 window steps only; element 1 has offset 1
    t = 17
    tau = list(range(17))
    a0 = [20] * 5 + [0, 1, 2, 21, 21, 5, 6, 7] + [8, 9, 10, 11]
    a1 = [20] + list(range(16))
    target = torch.cat([onehots(tau), onehots(tau)], 1)
    agent = torch.cat([onehots(a0), onehots(a1)], 1)
    reward, offset = aligned_reward(agent, target, n_frames=8)
    assert offset.tolist() == [5, 1]
    expected0 = [0.0] * 5 + [1, 1, 1, 0, 0, 1, 1, 1] + [1, 1, 1, 1]
    assert reward[:, 0, 0].tolist() == expected0
    assert reward[:, 1, 0].tolist() == [0.0] + [1.0] * 16
    assert aligned_indices(offset, t)[:, 0].tolist() == [0] * 6 + list(range(1, 12))


def test_alignment_window_is_mean_of_b_scores_with_scaled_features():
    # score depends on norms (max_cosine): a scaled copy scores 1/scale, a lower window mean loses
    target = onehots(list(range(17)))
    agent = 2.0 * onehots([20, 20] + list(range(15)))  # half score everywhere at offset 2
    agent[0, 0] = torch.eye(D)[0]  # exact match of tau_0 at offset 0, only one step of the window
    offsets = best_offsets(agent, target, n_frames=8)
    assert offsets.tolist() == [2]  # window 2 mean 0.5 > window 0 mean 1/8
    reward, _ = aligned_reward(agent, target, n_frames=8)
    assert reward[0, 0, 0].item() == pytest.approx(1.0)  # j < i*: compared with tau_0
    assert reward[2:, 0, 0].tolist() == pytest.approx([0.5] * 15)


def test_no_alignment_and_short_sequences():
    target = onehots(list(range(17)))
    agent = onehots([20] + list(range(16)))
    reward, offset = aligned_reward(agent, target, n_frames=8, align=False)
    assert offset.tolist() == [0] and reward.sum().item() == 0.0
    short = onehots([0, 1, 2, 3])  # T <= b: no offset to choose
    r, off = aligned_reward(short, target[:4], n_frames=8)
    assert off.tolist() == [0] and r[:, 0, 0].tolist() == [1.0] * 4


def test_alignment_gradient_flows_to_agent_features_only():
    target = onehots(list(range(17)))
    agent = (onehots([20, 20, 20] + list(range(14))) + 0.01).requires_grad_(True)
    reward, _ = aligned_reward(agent, target)
    reward.sum().backward()
    assert agent.grad is not None and agent.grad.abs().sum() > 0


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(T, B, F\)"):
        aligned_reward(torch.zeros(17, 4), torch.zeros(17, 4))
    with pytest.raises(ValueError, match="same F"):
        aligned_reward(torch.zeros(17, 1, 4), torch.zeros(17, 1, 5))


@pytest.fixture(scope="module")
def small_models():
    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16))
    return wm, conn


def test_prompt_target_drops_first_state_and_takes_the_mode(small_models):
    wm, conn = small_models
    e = F.normalize(torch.randn(16), dim=0)
    target = prompt_target(conn, e, batch=3, generator_seed=7)
    assert target.stoch.shape == (17, 3, wm.config.stoch * wm.config.classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        full = conn.video_imagine(e.unsqueeze(0).expand(3, -1), steps=18, sample=False, denoise=True)
    assert torch.equal(target.stoch, full.stoch[:, 1:].transpose(0, 1))
    assert not torch.equal(target.stoch[0], full.stoch[:, 0])  # generally differs from the dropped state
    probs = conn.rssm.probs(target.logits)
    mode = F.one_hot(probs.argmax(-1), probs.shape[-1]).flatten(-2).float()
    assert torch.equal(target.stoch, mode)
    again = prompt_target(conn, e, batch=3, generator_seed=7)
    assert torch.equal(again.stoch, target.stoch)


def test_prompt_reward_uses_decoder_first_linear_layer(small_models):
    wm, conn = small_models
    e = F.normalize(torch.randn(16), dim=0)
    reward = PromptReward(wm, conn, e, batch=2, seed=1)
    # the target scored against itself: every state matches, offset 0, reward 1
    r_self = reward(reward.target)
    assert r_self.shape == (17, 2, 1)
    assert torch.allclose(r_self, torch.ones_like(r_self), atol=1e-5)
    assert reward.last_offsets.tolist() == [0, 0]
    # random agent states: equals the formula computed by hand on decoder.linear features
    agent_stoch = F.one_hot(torch.randint(0, 8, (17, 2, 8)), 8).flatten(-2).float()
    states = type(reward.target)(reward.target.deter, agent_stoch, reward.target.logits)
    r = reward(states)
    lin = wm.decoder.linear
    expected, _ = aligned_reward(lin(agent_stoch), lin(reward.target.stoch), 8)
    assert torch.allclose(r, expected)
    cos = PromptReward(wm, conn, e, batch=2, seed=1, fn="cosine")
    assert not torch.allclose(cos(states), r)


def test_prompt_reward_rejects_bad_embeddings(small_models):
    wm, conn = small_models
    with pytest.raises(ValueError, match=r"must be \(16,\)"):
        PromptReward(wm, conn, torch.ones(8))
    with pytest.raises(ValueError, match="finite and non-zero"):
        prompt_target(conn, torch.zeros(16), batch=1)


def test_mfwm_embeddings_and_labels(small_models):
    from tests.support.fake_vlm import FakeVLM

    wm, conn = small_models
    model = MFWM(wm, conn, FakeVLM(dim=16, has_text=False))
    assert "stand-in" in model.vlm_label
    with pytest.raises(ValueError, match="no text encoder"):
        model.embed("walk fast clean")
    e = model.embed(torch.ones(16))
    assert e.norm().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="VLM's embedding size 32"):
        MFWM(wm, conn, FakeVLM(dim=32))


def test_latent_filter_accepts_rendered_frames_with_negative_strides(small_models):
    from agents.genrl.reward import LatentFilter

    wm, _ = small_models
    frames = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    flipped = frames[:, ::-1]  # what MuJoCo's renderer returns (a flipped view)
    filt = LatentFilter(wm, num_envs=2, sample=False)
    a = filt.reset(flipped).stoch.clone()
    b = filt.reset(np.ascontiguousarray(flipped)).stoch
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="64x64 RGB"):
        filt.reset(np.zeros((2, 32, 32, 3), np.uint8))

"""VPTAgent: single/batched acting, state handling, determinism, bfloat16 mode, MineRL dict output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.vpt.agent import VPTAgent
from agents.vpt.policy import VPTPolicyNet


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    net = VPTPolicyNet("tiny").eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


def _obs(*batch, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*batch, 32, 32, 3), dtype=np.uint8)


def test_single_and_batched_actions(policy):
    agent = VPTAgent(policy, seed=0)
    a, state = agent.act(_obs())
    assert a.shape == (2,) and a.dtype == np.int64 and 0 <= a[0] < 8641 and 0 <= a[1] < 121
    agent.reset_state()
    b, state = agent.act(_obs(4))
    assert b.shape == (4, 2) and (b[:, 0] < 8641).all() and (b[:, 1] < 121).all()
    assert state[0][1].shape[0] == 4


def test_deterministic_matches_network_argmax_and_uses_cache(policy):
    agent = VPTAgent(policy)
    frames = _obs(6, 2, seed=1)  # (T, B, ...)
    actions = [agent.act(frames[t], deterministic=True)[0] for t in range(6)]
    with torch.no_grad():
        out, _ = policy(torch.as_tensor(frames).transpose(0, 1))
    want_b = out.logp["buttons"].argmax(-1).T.numpy()
    want_c = out.logp["camera"].argmax(-1).T.numpy()
    assert np.array_equal(np.stack([a[:, 0] for a in actions]), want_b)
    assert np.array_equal(np.stack([a[:, 1] for a in actions]), want_c)


def test_explicit_state_is_functional(policy):
    agent = VPTAgent(policy)
    s0 = agent.initial_state(2)
    obs = _obs(2, seed=2)
    a1, s1 = agent.act(obs, s0, deterministic=True)
    a2, s2 = agent.act(obs, s1, deterministic=True)
    a1_again, _ = agent.act(obs, s0, deterministic=True)
    assert np.array_equal(a1, a1_again)
    assert agent._state is None  # the internal state was not touched


def test_seeded_sampling_is_reproducible_and_differs_from_argmax(policy):
    obs = _obs(64, seed=3)
    a = VPTAgent(policy, seed=7).act(obs)[0]
    b = VPTAgent(policy, seed=7).act(obs)[0]
    c = VPTAgent(policy).act(obs, deterministic=True)[0]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_first_flag_resets_one_env(policy):
    agent = VPTAgent(policy)
    frames = _obs(5, 2, seed=4)
    for t in range(4):
        agent.act(frames[t], deterministic=True)
    out, _ = agent.evaluate(frames[4], first=[True, False])
    fresh, _ = VPTAgent(policy).evaluate(frames[4][:1])
    torch.testing.assert_close(out.logp["buttons"][:1], fresh.logp["buttons"], rtol=0, atol=1e-5)


def test_bad_inputs(policy):
    agent = VPTAgent(policy)
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        agent.act(np.zeros((32, 32, 3), np.float32))
    agent.act(_obs(2))
    with pytest.raises(ValueError, match="reset_state"):
        agent.act(_obs(3))
    with pytest.raises(ValueError, match="first must have 2"):
        agent.act(_obs(2), first=[True])
    with pytest.raises(ValueError, match="dtype"):
        VPTAgent(policy, dtype="float16")


def test_bfloat16_mode_close_to_float32(policy):
    obs = _obs(3, seed=5)
    ref, _ = VPTAgent(policy).evaluate(obs)
    fast, _ = VPTAgent(policy, dtype="bfloat16", channels_last=True, fused_attention=True).evaluate(obs)
    assert fast.logp["buttons"].dtype == torch.float32
    diff = (fast.logp["camera"] - ref.logp["camera"]).abs().max().item()
    assert 0 < diff < 0.5


def test_to_env_returns_minerl_dict(policy):
    actions = pytest.importorskip("vpt_gym.actions")
    agent = VPTAgent(policy, seed=0)
    obs = _obs(3, seed=6)
    joint, _ = agent.act(obs, agent.initial_state(3), deterministic=True)
    env_action, _ = agent.act(obs, agent.initial_state(3), deterministic=True, to_env=True)
    assert isinstance(env_action, dict) and env_action["camera"].shape == (3, 2)
    want = actions.agent_to_env(joint)
    assert set(env_action) == set(want)
    for k in want:
        assert np.array_equal(env_action[k], want[k]), k


def test_plays_a_vpt_wrapped_minerl_env():
    """The README loop, on the MineRL test double: frames in, MultiDiscrete actions out, episode reset."""
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("vpt_gym.envs.minerl")
    import vpt_gym  # noqa: F401  (registers the ids)
    from agents.vpt.config import POLICY_PRESETS, PolicyConfig
    from vpt_gym.envs.minerl_double import DoubleFactory

    cfg = PolicyConfig.from_dict({**POLICY_PRESETS["tiny"].to_dict(), "img_size": 128})
    agent = VPTAgent(VPTPolicyNet(cfg), seed=0)
    factory = DoubleFactory("MineRLBasaltFindCave-v0", max_episode_steps=4)
    env = gym.make("vpt_gym/MineRLBasaltFindCave-v0", minerl_factory=factory)
    obs, _ = env.reset(seed=0)
    episodes = 0
    for _ in range(6):
        action, _ = agent.act(obs)
        assert env.action_space.contains(action)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episodes += 1
            obs, _ = env.reset()
            agent.reset_state()
    env.close()
    assert episodes == 1
    assert sum(len(d.actions) for d in factory.made) == 6


#: Loose tolerance of the fast mode (pack_weights) against float32 on this fixture (tiny preset, perturbed
#: weights, outputs close to uniform); the accuracy bounds on a network with peaked outputs are below.
FAST_MAX_ABS_LOGP = 0.3
FAST_MAX_KL = 5e-3


def _flat(out):
    return {k: v[:, 0] for k, v in out.logp.items()}


def test_fast_mode_close_to_float32_over_a_rollout_with_episode_starts(policy):
    ref = VPTAgent(policy)
    fast = VPTAgent(policy, dtype="bfloat16", channels_last=True, pack_weights=True)
    worst, worst_kl = 0.0, 0.0
    for step in range(12):  # more frames than the tiny preset's 8-frame cache
        obs = _obs(3, seed=100 + step)
        first = np.array([step == 4, step == 7, False])
        r, _ = ref.evaluate(obs, first=first)
        f, state = fast.evaluate(obs, first=first)
        assert f.logp["buttons"].shape == (3, 1, 8641) and f.logp["camera"].shape == (3, 1, 121)
        assert f.logp["buttons"].dtype == torch.float32 and f.vpred.shape == (3, 1)
        for k in ("buttons", "camera"):
            torch.testing.assert_close(f.logp[k].exp().sum(-1), torch.ones(3, 1))
            worst = max(worst, (f.logp[k] - r.logp[k]).abs().max().item())
        worst_kl = max(worst_kl, ref.policy.pi_head.kl_divergence(_flat(r), _flat(f)).max().item())
    assert 0 < worst < FAST_MAX_ABS_LOGP and worst_kl < FAST_MAX_KL
    assert state[0][1].dtype == torch.float32 and all(layer[0] is state[0][0] for layer in state)


def test_fast_mode_is_inference_only_copy_and_float32_stays_exact(policy):
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    fast = VPTAgent(policy, dtype="bfloat16", pack_weights=True, seed=0)
    a, _ = fast.act(_obs(2, seed=1))
    assert a.shape == (2, 2) and ((0 <= a[:, 0]) & (a[:, 0] < 8641) & (0 <= a[:, 1]) & (a[:, 1] < 121)).all()
    assert fast.policy is not policy and not any(p.requires_grad for p in fast.policy.parameters())
    after = policy.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    # the float32 agent still computes exactly the network's own forward
    obs = _obs(2, seed=2)
    out, _ = VPTAgent(policy).evaluate(obs)
    with torch.inference_mode():
        direct, _ = policy(torch.as_tensor(obs)[:, None])
    assert all(torch.equal(out.logp[k], direct.logp[k]) for k in ("buttons", "camera"))
    with pytest.raises(ValueError, match="encoder_dtype must be one of"):
        VPTAgent(policy, encoder_dtype="float16")


def test_fast_mode_batches_like_single_envs(policy):
    fast = VPTAgent(policy, dtype="bfloat16", pack_weights=True)
    obs = _obs(2, seed=3)
    batched, _ = fast.evaluate(obs)
    for i in range(2):
        single, _ = fast.evaluate(obs[i : i + 1], state=fast.initial_state(1))
        for k in ("buttons", "camera"):
            torch.testing.assert_close(single.logp[k], batched.logp[k][i : i + 1], rtol=0, atol=0.05)


# ---------------------------------------------------------------- accuracy on a non-uniform model (issue 20)
#: Bounds of the fast mode (bfloat16 transformer/heads, float32 image encoder) against float32 on
#: ``non_uniform_policy("tiny")``, 12 steps of 8 envs with episode starts. Measured: max |dlogp| 0.107, mean
#: KL 3.1e-4, argmax agreement 0.979; the old all-bfloat16 image encoder gives 0.70, 8.8e-3 and 0.906 there
#: (test_bfloat16_image_encoder_fails_the_fast_mode_bounds). The issue's target (0.05, KL 1e-4) is NOT met
#: by any bfloat16 mode on this model, nor on the 1x one (figures: benchmarks/vpt_policy_speed.py); the
#: float32 fast mode meets it (test_float32_fast_mode_is_float32_to_the_last_bits).
NON_UNIFORM_MAX_ABS_LOGP = 0.2
NON_UNIFORM_MEAN_KL = 8e-4
NON_UNIFORM_ARGMAX_AGREE = 0.95


@pytest.fixture(scope="module")
def non_uniform():
    from benchmarks.vpt_policy_speed import non_uniform_policy

    return non_uniform_policy("tiny")


def _rollout_errors(ref: VPTAgent, other: VPTAgent, steps: int = 12, batch: int = 8) -> dict[str, float]:
    from benchmarks.vpt_policy_speed import peakedness

    worst, kls, agree, peaks = 0.0, [], [], []
    for step in range(steps):
        obs = _obs(batch, seed=200 + step)
        first = np.arange(batch) == step % batch  # an episode start in one env per step
        r, _ = ref.evaluate(obs, first=first)
        o, _ = other.evaluate(obs, first=first)
        rl, ol = _flat(r), _flat(o)
        worst = max(worst, max((rl[k] - ol[k]).abs().max().item() for k in rl))
        kls.append(ref.policy.pi_head.kl_divergence(rl, ol).mean().item())
        same = [rl[k].argmax(-1) == ol[k].argmax(-1) for k in rl]
        agree.append((same[0] & same[1]).float().mean().item())
        peaks.append(peakedness(rl))
    return {
        "max_abs": worst,
        "mean_kl": float(np.mean(kls)),
        "agree": float(np.mean(agree)),
        **{k: float(np.mean([p[k] for p in peaks])) for k in peaks[0]},
    }


def test_non_uniform_model_is_far_from_uniform(non_uniform):
    errs = _rollout_errors(VPTAgent(non_uniform), VPTAgent(non_uniform), steps=4)
    # uniform would be 1/8641 and 1/121, entropies log(8641) = 9.06 and log(121) = 4.80 nats
    assert errs["max_prob_buttons"] > 0.05 and errs["max_prob_camera"] > 0.2  # measured 0.114, 0.338
    assert errs["entropy_buttons"] < 6.5 and errs["entropy_camera"] < 3.5  # measured 5.46, 2.50
    assert errs["max_abs"] == 0 and errs["agree"] == 1
    # and the actions depend on the frame (not one constant distribution)
    out, _ = VPTAgent(non_uniform).evaluate(_obs(8, seed=9))
    assert len(set(out.logp["buttons"][:, 0].argmax(-1).tolist())) > 2


def test_fast_mode_accuracy_on_a_non_uniform_model(non_uniform):
    fast = VPTAgent(non_uniform, dtype="bfloat16", channels_last=True, pack_weights=True)
    assert fast.encoder_dtype == torch.float32
    errs = _rollout_errors(VPTAgent(non_uniform), fast)
    assert 0 < errs["max_abs"] < NON_UNIFORM_MAX_ABS_LOGP
    assert errs["mean_kl"] < NON_UNIFORM_MEAN_KL and errs["agree"] >= NON_UNIFORM_ARGMAX_AGREE


def test_bfloat16_image_encoder_fails_the_fast_mode_bounds(non_uniform):
    """The pre-issue-20 fast mode (image encoder in bfloat16): the bounds above must catch its error."""
    old = VPTAgent(non_uniform, dtype="bfloat16", channels_last=True, pack_weights=True, encoder_dtype="bfloat16")
    errs = _rollout_errors(VPTAgent(non_uniform), old)
    assert errs["max_abs"] > 2 * NON_UNIFORM_MAX_ABS_LOGP and errs["mean_kl"] > 5 * NON_UNIFORM_MEAN_KL
    assert errs["agree"] < NON_UNIFORM_ARGMAX_AGREE


def test_float32_fast_mode_is_float32_to_the_last_bits(non_uniform):
    """pack_weights in float32: prepacked convs, channels-last, one q/k/v/r GEMM, fused attention."""
    fast32 = VPTAgent(non_uniform, channels_last=True, pack_weights=True)
    errs = _rollout_errors(VPTAgent(non_uniform), fast32)
    assert errs["max_abs"] < 1e-3 and errs["mean_kl"] < 1e-7 and errs["agree"] == 1  # measured 8e-6
    assert errs["max_abs"] < 0.05 and errs["mean_kl"] <= 1e-4 and errs["agree"] >= 0.99  # the target
    assert fast32.policy is not non_uniform and not any(p.requires_grad for p in fast32.policy.parameters())

"""GenRL's imag actor-critic (spec 5): lambda-returns, percentile normalisation, slow critic, gradient flow,
data-free and offline start states, resumable checkpoints, real-env evaluation and input validation."""
import json

import numpy as np
import pytest
import torch

from agents.checkpoints import CheckpointError
from agents.genrl.behaviour import (
    ActorCritic,
    BehaviourConfig,
    ReturnNormalizer,
    data_free_starts,
    evaluate_behaviour,
    evaluate_random,
    lambda_returns,
    learn_behaviour,
    load_behaviour,
    load_policy,
)
from agents.genrl.connector import Connector, ConnectorConfig
from agents.genrl.episodes import EpisodeStore, collect
from agents.genrl.reward import MFWM, PromptReward
from agents.genrl.world_model import WorldModel, WorldModelConfig
from tests.support.fake_vlm import FakeVLM
from tests.support.moving_pattern_env import MovingSquareEnv, moving_square_frame

TINY = dict(batch_size=4, batch_length=4)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16))
    return MFWM(wm, conn, FakeVLM(dim=16))


def prompt():
    return np.stack([moving_square_frame(4 * i, 10 + 2 * i) for i in range(8)])


def test_lambda_returns_by_hand():
    r = torch.tensor([1.0, 2.0, 3.0])
    v = torch.tensor([10.0, 20.0, 30.0])
    out = lambda_returns(r, v, discount=0.5, lambda_=0.8)
    r1 = 2.0 + 0.5 * (0.2 * 30.0 + 0.8 * 30.0)  # R_2 = v_2 bootstrap
    r0 = 1.0 + 0.5 * (0.2 * 20.0 + 0.8 * r1)
    assert out.tolist() == pytest.approx([r0, r1])
    # GenRL's numbers: gamma 0.99, lambda 0.95, T = 17 -> 16 returns; constant reward 1 and value 0
    out = lambda_returns(torch.ones(17, 1), torch.zeros(17, 1), 0.99, 0.95)
    assert out.shape == (16, 1)
    expected_last = 1.0  # R_15 = r_15 + 0.99 * (0.05 * 0 + 0.95 * v_16 = 0)
    assert out[-1].item() == pytest.approx(expected_last)
    assert out[-2].item() == pytest.approx(1.0 + 0.99 * 0.95 * 1.0)


def test_return_normalizer_percentile_ema():
    norm = ReturnNormalizer(rate=0.01)
    x = torch.arange(101.0)
    offset, scale = norm(x)
    assert norm.values.tolist() == pytest.approx([0.05, 0.95])  # 0.01 * (p5 = 5, p95 = 95)
    assert offset.item() == pytest.approx(0.05) and scale.item() == 1.0  # max(1, 0.9)
    for _ in range(2000):
        offset, scale = norm(x)
    assert offset.item() == pytest.approx(5.0, abs=1e-3) and scale.item() == pytest.approx(90.0, abs=1e-2)


def test_actor_distribution_and_critic_init():
    ac = ActorCritic(10, 3, BehaviourConfig.small())
    dist = ac.actor(torch.randn(5, 10) * 10)
    assert (dist.stddev >= 0.1).all() and (dist.stddev <= 1.0).all()
    assert (dist.mean.abs() <= 1).all()
    assert ac.critic.mean(ac.critic(torch.randn(5, 10))).abs().max().item() < 1e-6  # zero output layer
    assert BehaviourConfig().actor_lr == 3e-5 and BehaviourConfig().horizon == 16
    assert BehaviourConfig().batch_size * BehaviourConfig().batch_length == 1024


def test_update_uses_17_states_and_dynamics_backprop(model):
    cfg = BehaviourConfig.small(slow_critic_every=2, **TINY)
    feat = model.world_model.config.stoch * model.world_model.config.classes + model.world_model.config.deter
    torch.manual_seed(0)
    ac = ActorCritic(feat, 2, cfg)
    seen = []
    reward = PromptReward(model.world_model, model.connector, model.embed(prompt()), batch=16)

    def reward_fn(states):
        seen.append(states.stoch.shape)
        return reward(states)

    start = data_free_starts(model, ac, 16)
    before = [p.clone() for p in ac.actor.parameters()]
    m = ac.update(model.world_model, start, reward_fn)
    assert seen == [(17, 16, 64)]
    assert np.isfinite(m["actor_loss"]) and m["actor_grad_norm"] > 0  # gradient reached the actor
    assert any(not torch.equal(a, b) for a, b in zip(before, ac.actor.parameters()))
    # world model frozen: no gradient stored on its parameters
    assert all(p.grad is None for p in model.world_model.parameters())
    # slow critic: copied at update 0, stale at 1, copied again at 2
    assert all(torch.equal(a, b) for a, b in zip(ac.critic.parameters(), ac.slow_critic.parameters()))
    ac.update(model.world_model, start, reward_fn)
    assert not all(torch.equal(a, b) for a, b in zip(ac.critic.parameters(), ac.slow_critic.parameters()))
    ac.update(model.world_model, start, reward_fn)
    assert all(torch.equal(a, b) for a, b in zip(ac.critic.parameters(), ac.slow_critic.parameters()))


def test_update_reports_mean_absolute_imagined_action(model):
    """``action_abs_mean`` is mean |a| over the 16 imagined actions that lead somewhere (issue #7: a value near 1
    is the saturated actor that exploited the first proof run's world model)."""
    cfg = BehaviourConfig.small(**TINY)
    feat = model.world_model.config.stoch * model.world_model.config.classes + model.world_model.config.deter
    torch.manual_seed(0)
    ac = ActorCritic(feat, 2, cfg)
    sampled = ac.policy
    ac.policy = lambda f: sampled(f) * 0.0 + torch.tensor([0.25, -0.75])  # |a| mean 0.5, gradient still flows
    reward = PromptReward(model.world_model, model.connector, model.embed(prompt()), batch=16)
    m = ac.update(model.world_model, data_free_starts(model, ac, 16), reward)
    assert m["action_abs_mean"] == pytest.approx(0.5)


def test_data_free_starts_mix_and_warmup(model):
    wm = model.world_model
    feat = wm.config.stoch * wm.config.classes + wm.config.deter
    ac = ActorCritic(feat, 2, BehaviourConfig.small(warmup_steps=0, connector_fraction=0.0, **TINY))
    s = data_free_starts(model, ac, 16)
    assert s.stoch.shape == (16, 64) and s.deter.abs().sum() == 0  # h = 0 before warm-up
    assert torch.equal(s.stoch[:8], s.stoch[8:])  # both halves start from the same mixed states
    assert torch.equal(s.stoch.reshape(16, 8, 8).sum(-1), torch.ones(16, 8))  # one-hot per categorical
    assert torch.equal(s.logits, torch.zeros_like(s.logits))  # uniform
    ac.config.warmup_steps = 5
    s = data_free_starts(model, ac, 16)
    assert s.deter.abs().sum() > 0 and not torch.equal(s.deter[:8], s.deter[8:])
    with pytest.raises(ValueError, match="even"):
        data_free_starts(model, ac, 15)


def test_learn_resume_equals_uninterrupted_and_checkpoint_is_safe(model, tmp_path):
    cfg = BehaviourConfig.small(**TINY)
    full = learn_behaviour(model, prompt(), steps=4, config=cfg, run_dir=tmp_path / "a", progress=False,
                           checkpoint_every=2)
    learn_behaviour(model, prompt(), steps=2, config=cfg, run_dir=tmp_path / "b", progress=False, log_every=1)
    resumed = learn_behaviour(model, prompt(), steps=4, config=cfg, run_dir=tmp_path / "b", progress=False,
                              log_every=1)
    for a, b in zip(full.actor.parameters(), resumed.actor.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4
    ac, step, e, meta = load_behaviour(tmp_path / "b" / "behaviour.safetensors")
    assert step == 4 and meta["extra"]["mode"] == "data-free" and "stand-in" in meta["extra"]["label"]
    policy = load_policy(tmp_path / "b" / "behaviour.safetensors", model.world_model)
    for a, b in zip(policy.actor.parameters(), resumed.actor.parameters()):
        assert torch.equal(a, b)
    obs = np.zeros((1, 64, 64, 3), np.uint8)
    assert policy.act(obs).shape == (1, 2)
    with pytest.raises(ValueError, match="another prompt"):
        learn_behaviour(model, torch.ones(16), steps=5, config=cfg, run_dir=tmp_path / "b", progress=False)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        load_behaviour(bad)


def test_offline_resume_after_two_kills_is_bit_identical(model, tmp_path):
    """The sampler's RNG is saved and restored (not reseeded): stopping twice changes nothing, bit for bit;
    the metrics log has each step once, with a torn line (a kill mid-write) dropped."""
    store = EpisodeStore(tmp_path / "data")
    collect(MovingSquareEnv(episode_steps=12), None, 2, store, seed=0, progress=False)
    cfg = BehaviourConfig.small(**TINY)
    kw = dict(data=store, config=cfg, progress=False, log_every=1, checkpoint_every=1)
    straight = learn_behaviour(model, prompt(), steps=6, run_dir=tmp_path / "a", **kw)
    learn_behaviour(model, prompt(), steps=2, run_dir=tmp_path / "b", **kw)
    log = tmp_path / "b" / "metrics.jsonl"
    log.write_text(log.read_text() + '{"step": 3, "actor_lo')  # killed while writing step 3's line
    torch.manual_seed(999)  # the caller's RNG between the runs must not matter
    learn_behaviour(model, prompt(), steps=4, run_dir=tmp_path / "b", **kw)
    resumed = learn_behaviour(model, prompt(), steps=6, run_dir=tmp_path / "b", **kw)
    for (name, a), b in zip(straight.actor_critic.state_dict().items(), resumed.actor_critic.state_dict().values()):
        assert torch.equal(a, b), name
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    want = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    got = [json.loads(line) for line in log.read_text().splitlines()]
    assert [w["actor_loss"] for w in want] == [g["actor_loss"] for g in got]
    with pytest.raises(ValueError, match="cannot resume with different settings \\(seed: 0 -> 1\\)"):
        learn_behaviour(model, prompt(), steps=7, run_dir=tmp_path / "b", seed=1, **kw)
    with pytest.raises(ValueError, match="mode: 'offline' -> 'data-free'"):
        learn_behaviour(model, prompt(), steps=7, run_dir=tmp_path / "b", config=cfg, progress=False)


def test_load_behaviour_leaves_the_callers_rng_alone(model, tmp_path):
    cfg = BehaviourConfig.small(**TINY)
    learn_behaviour(model, prompt(), steps=1, config=cfg, run_dir=tmp_path, progress=False)
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    load_behaviour(tmp_path / "behaviour.safetensors")
    assert torch.equal(torch.rand(4), expected)


def test_behaviour_with_adam_moments_of_the_wrong_shape_fails_at_load(model, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    learn_behaviour(model, prompt(), steps=1, config=BehaviourConfig.small(**TINY), run_dir=tmp_path, progress=False)
    path = tmp_path / "behaviour.safetensors"
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    key = next(k for k in tensors if k.startswith("actor_opt/") and k.endswith("exp_avg") and tensors[k].dim() > 1)
    tensors[key] = tensors[key].flatten()[:-1].clone()
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match=f"{key}' has shape"):
        load_behaviour(path)


def test_offline_mode_and_evaluation(model, tmp_path):
    store = EpisodeStore(tmp_path / "data")
    collect(MovingSquareEnv(episode_steps=12), None, 2, store, seed=0, progress=False)
    cfg = BehaviourConfig.small(**TINY)
    policy = learn_behaviour(model, prompt(), data=store, steps=2, config=cfg, progress=False)
    assert np.isfinite(policy.last_metrics["actor_loss"])
    result = evaluate_behaviour(policy, model, lambda: MovingSquareEnv(episode_steps=10), episodes=2)
    assert len(result["returns"]) == 2 and result["normalized_score"] is None
    # MovingSquareEnv's reward is action[0]: the return is the sum of the policy's first action components
    assert all(-10 <= r <= 10 for r in result["returns"])
    rnd = evaluate_random(lambda: MovingSquareEnv(episode_steps=10), episodes=2)
    assert rnd["label"] == "random policy" and len(rnd["returns"]) == 2


def test_bad_inputs_fail_before_training(model, tmp_path):
    cfg = BehaviourConfig.small(**TINY)
    with pytest.raises(ValueError, match="empty"):
        learn_behaviour(model, "", steps=1, config=cfg, progress=False)
    with pytest.raises(ValueError, match="frames"):
        learn_behaviour(model, np.zeros((3, 64, 64, 3), np.uint8), steps=1, config=cfg, progress=False)
    store = EpisodeStore(tmp_path / "d3")
    collect(MovingSquareEnv(episode_steps=9, action_dim=3), None, 1, store, seed=0, progress=False)
    with pytest.raises(ValueError, match="data action dimension 3"):
        learn_behaviour(model, prompt(), data=store, steps=1, config=cfg, progress=False)
    with pytest.raises(ValueError, match="needs an MFWM"):
        learn_behaviour(model.world_model, prompt(), steps=1, config=cfg, progress=False)
    policy = learn_behaviour(model, prompt(), steps=0, config=cfg, progress=False)
    with pytest.raises(ValueError, match="action dimension mismatch"):
        evaluate_behaviour(policy, model, lambda: MovingSquareEnv(action_dim=3), episodes=1)
    with pytest.raises(ValueError, match="positive int"):
        BehaviourConfig(batch_size=0)

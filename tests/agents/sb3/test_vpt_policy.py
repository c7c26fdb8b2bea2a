"""VPTActorCriticPolicy: SB3 distribution with the checkpoint's temperature, zero value head, transformer memory
in rollouts and training, KLPPO on the MineRL double, from_pretrained and exact save/load."""

from __future__ import annotations

import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers import ResizeObservation
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from torch.nn import functional as F

import vpt_gym  # noqa: F401  (registers the envs)
from agents.sb3 import KLPPO, SequenceRolloutBuffer, VPTActorCriticPolicy, distribution_kl
from agents.vpt.config import POLICY_PRESETS
from agents.vpt.io import save_pretrained
from agents.vpt.policy import VPTPolicyNet
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture
from vpt_gym.envs.minerl_double import DoubleFactory

S = 32  # the tiny preset's frame size
OBS = gym.spaces.Box(0, 255, (S, S, 3), np.uint8)
ACT = gym.spaces.MultiDiscrete([8641, 121])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_policy(**kwargs) -> VPTActorCriticPolicy:
    torch.manual_seed(0)
    return VPTActorCriticPolicy(kwargs.pop("obs", OBS), ACT, lambda _: 1e-4, vpt_config="tiny", **kwargs)


def frames(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, S, S, 3), generator=g, dtype=torch.uint8)


def minerl_env(episode_steps: int = 20):
    env = gym.make(
        "vpt_gym/MineRLBasaltFindCave-v0",
        minerl_factory=DoubleFactory("MineRLBasaltFindCave-v0", max_episode_steps=episode_steps),
    )
    return ResizeObservation(env, (S, S))


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_spaces_are_checked():
    with pytest.raises(ValueError, match=r"\(32, 32, 3\)"):
        make_policy(obs=gym.spaces.Box(0, 255, (64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        make_policy(obs=gym.spaces.Box(0, 1, (S, S, 3), np.float32))
    with pytest.raises(ValueError, match="MultiDiscrete"):
        VPTActorCriticPolicy(OBS, gym.spaces.MultiDiscrete([121, 8641]), lambda _: 1e-4, vpt_config="tiny")
    with pytest.raises(ValueError, match="unknown VPT policy preset"):
        VPTActorCriticPolicy(OBS, ACT, lambda _: 1e-4, vpt_config="7x")
    with pytest.raises(TypeError, match="net_arch"):
        VPTActorCriticPolicy(OBS, ACT, lambda _: 1e-4, vpt_config="tiny", net_arch=[64])


def test_distribution_is_the_tempered_heads_and_value_starts_at_zero():
    policy = make_policy()
    assert POLICY_PRESETS["tiny"].temperature == 2.0
    obs = frames(3)
    memory = policy.initial_memory(3)
    starts = torch.ones(3, dtype=torch.bool)
    with torch.no_grad():
        dist, values, _ = policy.sequence_distribution(obs, starts, memory, 3)
        out, _ = policy.vpt(obs[:, None], starts[:, None], policy.vpt.initial_state(3))
        latent = out.latent[:, 0]
        head = policy.vpt.pi_head
        expected_buttons = F.log_softmax(head.buttons.linear_layer(latent) / 2.0, dim=-1)
        expected_camera = F.log_softmax(head.camera.linear_layer(latent) / 2.0, dim=-1)
    torch.testing.assert_close(dist.distribution[0].logits, expected_buttons, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dist.distribution[1].logits, expected_camera, rtol=1e-5, atol=1e-5)
    actions = torch.tensor([[5, 60], [8640, 0], [17, 120]])
    expected_logp = expected_buttons.gather(1, actions[:, :1])[:, 0] + expected_camera.gather(1, actions[:, 1:])[:, 0]
    torch.testing.assert_close(dist.log_prob(actions), expected_logp, rtol=1e-5, atol=1e-5)
    assert torch.count_nonzero(values) == 0
    assert torch.count_nonzero(policy.vpt.value_head.linear.weight) == 0


def test_channels_first_observations_are_accepted():
    policy = make_policy()
    chw = make_policy(obs=gym.spaces.Box(0, 255, (3, S, S), np.uint8))
    chw.load_state_dict(policy.state_dict())
    obs = frames(2)
    starts = torch.ones(2, dtype=torch.bool)
    with torch.no_grad():
        a = policy.sequence_distribution(obs, starts, policy.initial_memory(2), 2)[0].distribution[0].logits
        b = chw.sequence_distribution(obs.permute(0, 3, 1, 2), starts, chw.initial_memory(2), 2)[0]
        b = b.distribution[0].logits
    torch.testing.assert_close(a, b)


def test_chunk_recompute_equals_step_by_step_rollout():
    policy = make_policy()
    n_envs, length = 2, 12
    obs = frames(n_envs * length).reshape(n_envs, length, S, S, 3)
    starts = torch.zeros(n_envs, length, dtype=torch.bool)
    starts[:, 0] = True
    starts[0, 5] = True  # an episode boundary inside the chunk
    actions = torch.stack([torch.randint(0, 8641, (n_envs, length)), torch.randint(0, 121, (n_envs, length))], -1)
    memory = policy.initial_memory(n_envs)
    stepped = []
    with torch.no_grad():
        for t in range(length):
            dist, _, memory = policy.sequence_distribution(obs[:, t], starts[:, t], memory, n_envs)
            stepped.append(dist.log_prob(actions[:, t]))
        stepped = torch.stack(stepped, 1)
        _, logp, _, _ = policy.evaluate_actions_sequence(
            obs.reshape(-1, S, S, 3), actions.reshape(-1, 2), starts.reshape(-1), policy.initial_memory(n_envs), n_envs
        )
    torch.testing.assert_close(logp.reshape(n_envs, length), stepped, rtol=1e-4, atol=1e-4)


def test_episode_start_resets_the_memory():
    policy = make_policy()
    memory = policy.initial_memory(2)
    with torch.no_grad():
        for t in range(6):  # fill the memory with an earlier episode
            _, _, memory = policy.sequence_distribution(frames(2, seed=t), torch.zeros(2, dtype=torch.bool), memory, 2)
        obs = frames(2, seed=99)
        fresh = policy.sequence_distribution(obs, torch.ones(2, dtype=torch.bool), policy.initial_memory(2), 2)[0]
        reset = policy.sequence_distribution(obs, torch.ones(2, dtype=torch.bool), memory, 2)[0]
        kept = policy.sequence_distribution(obs, torch.zeros(2, dtype=torch.bool), memory, 2)[0]
    torch.testing.assert_close(reset.distribution[0].logits, fresh.distribution[0].logits, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(kept.distribution[0].logits, fresh.distribution[0].logits, atol=1e-4)


def test_predict_carries_the_memory_and_memoryless_entry_points_raise():
    policy = make_policy()
    obs = frames(2).numpy()
    a1, state = policy.predict(obs, episode_start=np.array([True, True]), deterministic=True)
    assert a1.shape == (2, 2) and a1.dtype.kind == "i"
    a2, state2 = policy.predict(obs, state=state, episode_start=np.array([False, False]), deterministic=True)
    assert state2[0][0].sum() > state[0][0].sum()  # one more valid cached frame
    single, _ = policy.predict(obs[0], episode_start=[True], deterministic=True)
    np.testing.assert_array_equal(single, a1[0])
    for call in (lambda: policy(torch.as_tensor(obs)), lambda: policy.predict_values(torch.as_tensor(obs))):
        with pytest.raises(NotImplementedError, match="KLPPO"):
            call()
    with pytest.raises(ValueError, match="uint8"):
        floats = torch.rand(2, S, S, 3)
        policy.sequence_distribution(floats, torch.ones(2, dtype=torch.bool), policy.initial_memory(2), 2)


def vpt_model(n_envs: int = 2, episode_steps: int = 20, **kwargs) -> KLPPO:
    env = make_vec_env(lambda: minerl_env(episode_steps), n_envs=n_envs, seed=0)
    defaults = dict(n_steps=32, batch_size=16, n_epochs=2, seed=0, policy_kwargs={"vpt_config": "tiny"})
    defaults.update(kwargs)
    return KLPPO(VPTActorCriticPolicy, env, **defaults)


def test_training_recomputes_the_rollouts_log_probs_from_stored_chunk_memories():
    # episodes of 18 steps: the third rollout (steps 48-71) has a start at step 54, inside its first chunk
    model = vpt_model(n_steps=24, batch_size=16, episode_steps=18, policy_kwargs={"vpt_config": "tiny", "chunk_len": 8})
    assert isinstance(model.rollout_buffer, SequenceRolloutBuffer) and model.rollout_buffer.chunk_len == 8
    model.learn(96)  # two rollouts: the second starts with the memory carried over, mid-episode
    assert model.rollout_buffer.observations.dtype == np.uint8
    # collect one more rollout (memory carried over from the last one) without training, then re-run its
    # chunks from the stored start memories: the log-probs must be the rollout's
    from stable_baselines3.common.callbacks import CallbackList

    callback = CallbackList([])
    callback.init_callback(model)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    n = 0
    with torch.no_grad():
        for data in model.rollout_buffer.get(16):
            assert data.n_sequences == 2 and data.observations.shape == (16, 3, S, S)  # SB3 transposed the frames
            _, logp, _, _ = model.policy.evaluate_actions_sequence(
                data.observations, data.actions, data.episode_starts, data.memory, data.n_sequences
            )
            torch.testing.assert_close(logp, data.old_log_prob, rtol=1e-4, atol=1e-4)
            n += 1
    assert n == 3  # 2 envs x 3 chunks, 2 chunks per minibatch
    assert model.rollout_buffer.episode_starts.reshape(-1, 8)[:, 1:].any()


def test_batch_and_rollout_sizes_must_be_multiples_of_the_chunk():
    with pytest.raises(ValueError, match="batch_size"):
        vpt_model(n_steps=32, batch_size=12)
    with pytest.raises(ValueError, match="n_steps"):
        vpt_model(n_steps=20, batch_size=8)


def test_learn_on_the_minerl_double_and_kl_grows_from_zero(monkeypatch):
    model = vpt_model(n_steps=64, batch_size=32, learning_rate=1e-3)
    value_calls = []
    original = model.policy.predict_values_sequence

    def counting(obs, starts, memory):
        value_calls.append(obs.shape[0])
        return original(obs, starts, memory)

    monkeypatch.setattr(model.policy, "predict_values_sequence", counting)
    model.learn(256, progress_bar=True)
    assert model.num_timesteps == 256 and model.kl_iteration == 2
    # 20-step episodes truncated by the time limit: 6 per env bootstrapped from their terminal frame (batch 1),
    # plus the last values of each of the 2 rollouts (batch 2)
    assert sorted(value_calls) == [1] * 12 + [2] * 2
    kl = model.logger.name_to_value["train/kl_ref"]
    assert np.isfinite(kl) and kl > 0
    assert not state_equal(model.policy.state_dict(), model.ref_policy.state_dict())
    mean, _ = evaluate_policy(model, model.env, n_eval_episodes=2)  # predict() with state and episode starts
    assert mean == 0.0  # the double pays no reward


def test_from_pretrained_loads_weights_zeroes_the_value_head_and_freezes_the_reference(tmp_path):
    torch.manual_seed(3)
    net = VPTPolicyNet("tiny")
    torch.nn.init.normal_(net.value_head.linear.weight)
    save_pretrained(net, tmp_path / "bc")
    model = KLPPO.from_pretrained(str(tmp_path / "bc"), make_vec_env(minerl_env, n_envs=1), n_steps=16, batch_size=8)
    ours = model.policy.vpt.state_dict()
    for k, v in net.state_dict().items():
        if k.startswith("value_head.linear"):
            assert torch.count_nonzero(ours[k]) == 0, k
        else:
            assert torch.equal(ours[k], v), k
    assert state_equal(model.ref_policy.state_dict(), model.policy.state_dict())
    assert model.policy_kwargs["vpt_config"] == net.config.to_dict()
    model.save(tmp_path / "ft.zip")
    with zipfile.ZipFile(tmp_path / "ft.zip") as z:
        data = json.loads(z.read("data"))
    assert data["policy_kwargs"]["vpt_config"] == net.config.to_dict()  # plain JSON, not a pickle
    policy = VPTActorCriticPolicy.from_pretrained(str(tmp_path / "bc"), OBS, ACT, zero_value_head=False)
    assert state_equal(policy.vpt.state_dict(), net.state_dict())
    with pytest.raises(FileNotFoundError):
        KLPPO.from_pretrained(str(tmp_path / "missing"), make_vec_env(minerl_env, n_envs=1))


def test_from_pretrained_refuses_an_env_of_another_frame_size(tmp_path):
    save_pretrained(VPTPolicyNet("tiny"), tmp_path / "bc")
    env = make_vec_env(lambda: ResizeObservation(minerl_env(), (48, 48)), n_envs=1)
    with pytest.raises(ValueError, match=r"img_size is 32.*\(3, 48, 48\)"):
        KLPPO.from_pretrained(str(tmp_path / "bc"), env, n_steps=8, batch_size=8)


def test_policy_save_pretrained_round_trip_is_exact(tmp_path):
    policy = make_policy()
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.01)
    policy.save_pretrained(tmp_path / "ft")
    assert sorted(p.name for p in (tmp_path / "ft").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    again = VPTActorCriticPolicy.from_pretrained(str(tmp_path / "ft"), OBS, ACT, zero_value_head=False)
    assert state_equal(again.state_dict(), policy.state_dict())
    policy.save(str(tmp_path / "sb3_style"))  # SB3's policy.save/load names, without the pickle
    assert (tmp_path / "sb3_style" / "model.safetensors").is_file()
    assert state_equal(VPTActorCriticPolicy.load(str(tmp_path / "sb3_style")).state_dict(), policy.state_dict())


def test_klppo_zip_save_load_is_exact(tmp_path):
    model = vpt_model(n_steps=16, batch_size=16, n_epochs=1, learning_rate=1e-3)
    model.learn(32)
    model.save(tmp_path / "vpt.zip")
    loaded = KLPPO.load(tmp_path / "vpt.zip", env=make_vec_env(minerl_env, n_envs=2), device="cpu",
                        trust_remote_code=True)  # our own file
    assert isinstance(loaded.policy, VPTActorCriticPolicy) and isinstance(loaded.rollout_buffer, SequenceRolloutBuffer)
    assert state_equal(loaded.policy.state_dict(), model.policy.state_dict())
    assert state_equal(loaded.ref_policy.state_dict(), model.ref_policy.state_dict())
    assert loaded.policy.vpt_config == POLICY_PRESETS["tiny"]
    assert loaded.kl_iteration == model.kl_iteration == 1
    loaded.learn(32, reset_num_timesteps=False)
    assert loaded.kl_iteration == 2


def test_reference_runs_with_its_own_memory_in_rollouts_and_training():
    # lr 0: pi stays equal to pi_ref, so the KL is zero only if pi_ref sees the same context as pi (its cache
    # carried across steps, chunks and rollouts); a missing or wrong reference memory makes it positive
    model = vpt_model(n_steps=16, batch_size=16, n_epochs=1, learning_rate=0.0, episode_steps=30,
                      policy_kwargs={"vpt_config": "tiny", "chunk_len": 8})
    model.learn(64)  # two rollouts; the second's chunks start with non-empty caches
    assert model.kl_iteration == 2
    assert model.rollout_buffer.memory_starts[0][0][0].any()  # valid cached frames at the chunk start
    assert abs(model.logger.name_to_value["train/kl_ref"]) < 1e-6


class RewardLeftCamera(gym.Wrapper):
    """Reward 1 when the camera class turns left (class < 60): any reward wrapper works with KLPPO."""

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, float(action[1] < 60), terminated, truncated, info


def test_ppo_learns_a_rewarded_action_and_a_huge_kl_coefficient_holds_it_at_the_reference():
    def fine_tune(kl_coef: float):
        env = make_vec_env(lambda: RewardLeftCamera(minerl_env()), n_envs=2, seed=0)
        model = KLPPO(VPTActorCriticPolicy, env, n_steps=64, batch_size=32, n_epochs=4, seed=0, learning_rate=3e-3,
                      kl_coef=kl_coef, kl_decay=1.0, policy_kwargs={"vpt_config": "tiny"})
        model.learn(256)
        obs = torch.as_tensor(model.rollout_buffer.observations.reshape(-1, 3, S, S)[::4])  # env frames
        starts = torch.ones(len(obs), dtype=torch.bool)
        with torch.no_grad():
            pi, ref = (p.sequence_distribution(obs, starts, p.initial_memory(len(obs)), len(obs))[0]
                       for p in (model.policy, model.ref_policy))
        p_left = lambda d: d.distribution[1].probs[:, :60].sum(-1).mean().item()  # noqa: E731
        return p_left(ref), p_left(pi), distribution_kl(ref, pi).mean().item()

    ref_free, p_free, kl_free = fine_tune(0.0)
    ref_tied, p_tied, kl_tied = fine_tune(100.0)
    assert ref_free == pytest.approx(ref_tied)  # same seed: the same starting policy
    assert p_free - ref_free > 0.02  # plain PPO moved probability to the rewarded camera classes
    assert abs(p_tied - ref_tied) < (p_free - ref_free) / 4
    assert kl_tied < kl_free / 4

"""GenRLReward / GenRLRewardVector: posterior filtering kept across steps and resets, rewards equal to the
offline spec-4 computation, batched == per-env, prompt and env validation, an SB3 smoke run."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.genrl.connector import Connector, ConnectorConfig
from agents.genrl.reward import MFWM, aligned_reward
from agents.genrl.video_file import write_video
from agents.genrl.world_model import WorldModel, WorldModelConfig
from tests.support.fake_vlm import FakeVLM
from tests.support.moving_pattern_env import MovingSquareEnv, moving_square_frame
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture
from wrappers.genrl_reward import GenRLReward, GenRLRewardVector

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16))
    return MFWM(wm, conn, FakeVLM(dim=16))


def prompt_frames():
    return np.stack([moving_square_frame(4 * i, 10) for i in range(8)])


def offline_rewards(model, wrapper, frames, actions):
    """Spec-4 rewards of the newest state of each window, computed from the whole episode at once."""
    wm = model.world_model
    obs = torch.as_tensor(np.stack(frames)).permute(0, 3, 1, 2)[None]
    act = torch.as_tensor(np.concatenate([np.zeros((1, 2), np.float32), np.stack(actions)]))[None]
    is_first = torch.zeros(1, len(frames), dtype=torch.bool)
    is_first[0, 0] = True
    with torch.no_grad():
        post, _ = wm.rssm.observe(wm.encode(obs), act, is_first, sample=False)
        feats = wm.decoder.linear(post.stoch[0])  # (T, F)
        target = wrapper.tracker.target  # (17, 1, F)
    out = []
    for j in range(1, len(frames)):
        window = feats[max(0, j - 16) : j + 1].unsqueeze(1)
        r, _ = aligned_reward(window, target[: window.shape[0]], 8)
        out.append(r[-1, 0, 0].item())
    return out


def test_rewards_match_offline_computation_and_reset_restarts_state(model):
    env = GenRLReward(MovingSquareEnv(episode_steps=30), model, prompt_frames())
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=1)
    frames, actions, rewards = [obs], [], []
    for _ in range(25):
        a = rng.uniform(-1, 1, 2).astype(np.float32)
        obs, r, term, trunc, info = env.step(a)
        assert info["task_reward"] == pytest.approx(float(a[0]))
        frames.append(obs), actions.append(a), rewards.append(r)
    assert np.allclose(rewards, offline_rewards(model, env, frames, actions), atol=1e-5)
    assert len(set(np.round(rewards, 6))) > 5  # rewards really vary with the frames
    # a reset forgets the previous episode: same seed and actions -> same rewards as the first episode
    env.reset(seed=1)
    again = [env.step(a)[1] for a in actions[:10]]
    assert np.allclose(again, rewards[:10], atol=1e-6)


def test_vector_version_matches_single_envs(model):
    n = 3
    venv = gym.vector.SyncVectorEnv([lambda: MovingSquareEnv(episode_steps=12) for _ in range(n)])
    venv = GenRLRewardVector(venv, model, prompt_frames())
    singles = [GenRLReward(MovingSquareEnv(episode_steps=12), model, prompt_frames()) for _ in range(n)]
    venv.reset(seed=[10, 11, 12])
    for i, s in enumerate(singles):
        s.reset(seed=10 + i)
    rng = np.random.default_rng(0)
    for step in range(12):
        acts = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        _, rewards, term, trunc, info = venv.step(acts)
        single = [s.step(acts[i])[1] for i, s in enumerate(singles)]
        assert np.allclose(rewards, single, atol=1e-5), step
        assert np.allclose(info["task_reward"], acts[:, 0])
    assert trunc.all()
    assert len(set(np.round(rewards, 5))) == n  # different envs, different rewards


def test_vector_next_step_reset_gives_zero_reward_and_fresh_state(model):
    venv = GenRLRewardVector(gym.vector.SyncVectorEnv([lambda: MovingSquareEnv(episode_steps=3)] * 2),
                             model, prompt_frames())
    venv.reset(seed=0)
    a = np.zeros((2, 2), np.float32)
    for _ in range(3):
        _, r, term, trunc, _ = venv.step(a)
    assert trunc.all()
    _, r, *_ = venv.step(a)  # the autoreset step
    assert r.tolist() == [0.0, 0.0]
    assert (venv.tracker._count == 1).all()


def test_video_file_prompt_equals_its_frames(model, tmp_path):
    from wrappers.vlm_reward import read_video

    path = write_video(prompt_frames(), tmp_path / "prompt.gif")
    env = GenRLReward(MovingSquareEnv(), model, str(path))
    expected = model.embed(read_video(path))
    assert torch.allclose(env.prompt_reward.embedding, expected)


@pytest.mark.parametrize("prompt, error", [
    ("", "empty"),
    ("   ", "empty"),
    ("word " * 60, "too long"),
    (np.zeros((3, 64, 64, 3), np.uint8), "has 3 frames"),
    (np.zeros((8, 64, 64), np.uint8), r"\(T, H, W, 3\)"),
    (np.zeros((8, 64, 64, 3), np.float64), "embedding and must be"),
    (np.zeros((8, 64, 64, 3), np.int32), "must be uint8"),
    ("missing.gif", "not found"),
])
def test_bad_prompts_fail_before_anything_runs(model, prompt, error):
    with pytest.raises((ValueError, FileNotFoundError), match=error):
        GenRLReward(MovingSquareEnv(), model, prompt)


def test_text_prompt_needs_a_text_vlm(model):
    video_only = MFWM(model.world_model, model.connector, FakeVLM(dim=16, has_text=False))
    with pytest.raises(ValueError, match="no text encoder"):
        GenRLReward(MovingSquareEnv(), video_only, "walk fast clean")
    env = GenRLReward(MovingSquareEnv(), model, "walk fast clean")  # a text VLM accepts it
    env.reset(seed=0)
    assert np.isfinite(env.step(np.zeros(2, np.float32))[1])


class _SmallFrames(MovingSquareEnv):
    def __init__(self):
        super().__init__()
        self.observation_space = gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)


class _DiscreteActions(MovingSquareEnv):
    def __init__(self):
        super().__init__()
        self.action_space = gym.spaces.Discrete(3)


def test_model_env_mismatch_is_reported(model):
    with pytest.raises(ValueError, match="action dimension mismatch: the world model was trained with 2-d"):
        GenRLReward(MovingSquareEnv(action_dim=3), model, prompt_frames())
    with pytest.raises(ValueError, match="64x64 RGB"):
        GenRLReward(_SmallFrames(), model, prompt_frames())
    with pytest.raises(ValueError, match="1-d Box"):
        GenRLReward(_DiscreteActions(), model, prompt_frames())


def test_sb3_ppo_trains_on_the_wrapped_env(model):
    from stable_baselines3 import PPO

    env = GenRLReward(MovingSquareEnv(episode_steps=32), model, prompt_frames())
    algo = PPO("CnnPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu",
               policy_kwargs={"features_extractor_kwargs": {"features_dim": 32}})
    algo.learn(256)
    assert algo.num_timesteps >= 256
    assert len(algo.ep_info_buffer) >= 4


def test_vector_same_step_autoreset_rewards_final_obs_then_resets(model):
    from gymnasium.vector import AutoresetMode

    make = lambda: MovingSquareEnv(episode_steps=3)  # noqa: E731
    venv = GenRLRewardVector(gym.vector.SyncVectorEnv([make, make], autoreset_mode=AutoresetMode.SAME_STEP),
                             model, prompt_frames())
    single = GenRLReward(make(), model, prompt_frames())
    venv.reset(seed=[3, 4])
    single.reset(seed=3)
    a = np.full((2, 2), 0.5, np.float32)
    for _ in range(3):
        _, r, term, trunc, info = venv.step(a)
        _, r_single, *_ = single.step(a[0])
        assert r[0] == pytest.approx(r_single, abs=1e-5)  # the final step is rewarded on info["final_obs"]
    assert trunc.all() and (venv.tracker._count == 1).all()  # states restarted on the reset observations
    with pytest.raises(ValueError, match="NEXT_STEP and SAME_STEP"):
        GenRLRewardVector(gym.vector.SyncVectorEnv([make], autoreset_mode=AutoresetMode.DISABLED), model,
                          prompt_frames())

"""VLMReward: cosine of the last-k-frame clip embedding with the prompt embedding, reference padding,
prompt parsing (text / video file / frames, the reference's 1- and 4-frame rules), SB3 smoke run."""
import numpy as np
import pytest
import torch.nn.functional as F

from agents.genrl.video_file import write_video
from tests.support.fake_vlm import FakeVLM
from tests.support.moving_pattern_env import MovingSquareEnv, moving_square_frame
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture
from wrappers.vlm_reward import VLMReward, check_text_prompt, prompt_embedding, read_video, video_clip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def frames(n, y=10):
    return np.stack([moving_square_frame(4 * i, y) for i in range(n)])


def test_k8_reward_is_cosine_of_last_8_frames_and_zero_before():
    vlm = FakeVLM()
    prompt = frames(8)
    env = VLMReward(MovingSquareEnv(episode_steps=20), vlm, prompt, k=8)
    obs, _ = env.reset(seed=0)
    seen = [obs]
    e_prompt = vlm.embed_video(prompt[None])[0]
    for t in range(12):
        a = np.array([0.5, 0.0], np.float32)
        obs, r, _, _, info = env.step(a)
        seen.append(obs)
        assert info["task_reward"] == 0.5
        if len(seen) < 8:
            assert r == 0.0  # the reference's zero embedding until 8 frames were seen
        else:
            e = vlm.embed_video(np.stack(seen[-8:])[None])[0]
            assert r == pytest.approx(F.cosine_similarity(e, e_prompt, dim=0).item(), abs=1e-6)
    # a reset clears the clip
    env.reset(seed=1)
    assert env.step(np.zeros(2, np.float32))[1] == 0.0


def test_k8_repeat_padding_and_k1_image_reward():
    vlm = FakeVLM()
    env = VLMReward(MovingSquareEnv(), vlm, frames(8), k=8, padding="repeat")
    obs0, _ = env.reset(seed=0)
    obs1, r, *_ = env.step(np.zeros(2, np.float32))
    clip = np.stack([obs0] * 7 + [obs1])
    expected = F.cosine_similarity(vlm.embed_video(clip[None])[0], vlm.embed_video(frames(8)[None])[0], dim=0)
    assert r == pytest.approx(expected.item(), abs=1e-6)
    image = VLMReward(MovingSquareEnv(), vlm, frames(1), k=1)
    image.reset(seed=0)
    obs, r, *_ = image.step(np.zeros(2, np.float32))
    e_obs = vlm.embed_video(np.repeat(obs[None], 8, 0)[None])[0]
    e_prompt = vlm.embed_video(np.repeat(frames(1), 8, 0)[None])[0]
    assert r == pytest.approx(F.cosine_similarity(e_obs, e_prompt, dim=0).item(), abs=1e-6)
    # the prompted frame itself scores highest
    env = VLMReward(MovingSquareEnv(), vlm, obs, k=1)
    env.reset(seed=0)
    assert env.step(np.zeros(2, np.float32))[1] == pytest.approx(1.0, abs=1e-6)


def test_video_clip_follows_the_reference_rules():
    one = frames(1)
    assert np.array_equal(video_clip(one), np.repeat(one, 8, 0))
    four = frames(4)
    assert np.array_equal(video_clip(four), np.repeat(four, 2, 0))  # f0 f0 f1 f1 ...
    long = frames(300)
    assert np.array_equal(video_clip(long), long[::2][:8])  # stride max(1, 300 // 128) = 2
    assert np.array_equal(video_clip(frames(10)), frames(10)[:8])
    with pytest.raises(ValueError, match="has 5 frames; need at least 8"):
        video_clip(frames(5))
    with pytest.raises(ValueError, match="uint8"):
        video_clip(frames(8).astype(np.float32))
    with pytest.raises(ValueError, match="no frames"):
        video_clip(np.zeros((0, 64, 64, 3), np.uint8))


def test_text_prompt_validation():
    assert check_text_prompt("  walk   fast ") == "walk fast"
    with pytest.raises(ValueError, match="empty"):
        check_text_prompt("")
    with pytest.raises(ValueError, match="too long \\(39 words"):
        check_text_prompt("a " * 39)
    with pytest.raises(ValueError, match="no text encoder"):
        VLMReward(MovingSquareEnv(), FakeVLM(has_text=False), "walk fast", k=1)
    e = prompt_embedding(FakeVLM(), "walk fast")
    assert e.shape == (16,) and e.norm().item() == pytest.approx(1.0)


def test_video_files_gif_and_mp4(tmp_path):
    gif = write_video(frames(8), tmp_path / "p.gif")
    read = read_video(gif)
    assert read.shape == (8, 64, 64, 3) and read.dtype == np.uint8
    assert np.abs(read.astype(int) - frames(8).astype(int)).mean() < 8  # GIF palette quantisation
    cv2 = pytest.importorskip("cv2")
    mp4 = tmp_path / "p.mp4"
    writer = cv2.VideoWriter(str(mp4), cv2.VideoWriter_fourcc(*"mp4v"), 15, (64, 64))
    for f in frames(8):
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    if not mp4.exists() or mp4.stat().st_size == 0:
        pytest.skip("this OpenCV build cannot write mp4")
    vid = read_video(mp4)
    assert vid.shape[1:] == (64, 64, 3) and vid.shape[0] == 8
    assert np.abs(vid.astype(int) - frames(8).astype(int)).mean() < 12  # lossy codec, RGB order kept
    env = VLMReward(MovingSquareEnv(), FakeVLM(), str(mp4), k=8)
    assert env.prompt_embedding.shape == (16,)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="cannot read any frame"):
        read_video(bad)
    with pytest.raises(ValueError, match="unsupported video prompt format"):
        (tmp_path / "x.txt").write_text("x")
        read_video(tmp_path / "x.txt")


def test_bad_arguments():
    with pytest.raises(ValueError, match="k must be 1 or the VLM's clip length 8, got 4"):
        VLMReward(MovingSquareEnv(), FakeVLM(), frames(8), k=4)
    import gymnasium as gym

    with pytest.raises(ValueError, match="uint8 RGB image observations"):
        VLMReward(gym.make("Pendulum-v1"), FakeVLM(), frames(8))


def test_sb3_sac_runs_on_the_wrapped_env():
    from stable_baselines3 import SAC

    env = VLMReward(MovingSquareEnv(episode_steps=25), FakeVLM(), frames(8), k=8)
    algo = SAC("CnnPolicy", env, buffer_size=500, learning_starts=50, batch_size=16, train_freq=4,
               seed=0, device="cpu", policy_kwargs={"features_extractor_kwargs": {"features_dim": 16},
                                                    "net_arch": [32]})
    algo.learn(200)
    assert algo.num_timesteps >= 200 and len(algo.ep_info_buffer) >= 8


def test_works_with_the_registered_random_features_stand_in():
    from agents.genrl.vlm import load_vlm

    vlm = load_vlm("random-features", dim=16)
    assert vlm.is_stand_in and not vlm.has_text
    env = VLMReward(MovingSquareEnv(), vlm, frames(8), k=8)
    obs, _ = env.reset(seed=0)
    seen = [obs]
    for _ in range(8):
        obs, r, *_ = env.step(np.zeros(2, np.float32))
        seen.append(obs)
    expected = np.dot(vlm.embed_video(np.stack(seen[-8:])[None])[0], vlm.embed_prompt_video(frames(8))[0])
    assert r == pytest.approx(float(expected), abs=1e-5)
    with pytest.raises(ValueError, match="no text encoder"):
        VLMReward(MovingSquareEnv(), vlm, "walk fast clean", k=8)


@pytest.mark.parametrize("text", ["\u200b", "\x00\x00", "\u200b\u200d\ufeff \x00", "\u0301\u0301", "\u2028\t"])
def test_prompts_of_only_invisible_characters_are_empty(text):
    with pytest.raises(ValueError, match="the text prompt is empty"):
        check_text_prompt(text)
    with pytest.raises(ValueError, match="the text prompt is empty"):
        prompt_embedding(FakeVLM(), text)
    from agents.genrl.vlm.base import check_prompts

    with pytest.raises(ValueError, match="prompt 0 is empty"):
        check_prompts([text])
    assert check_text_prompt("walk\u200b fast") == "walk\u200b fast"  # a visible prompt is kept as written

"""render_mode="human" and RecordVideo on vpt-gym's pixel envs (vpt_gym.envs.render_modes)."""
from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest

import vpt_gym  # noqa: F401
from vpt_gym.envs import render_modes
from vpt_gym.optional import MissingDependency

WALKER = "vpt_gym/walker-walk-v0"
# one id per factory: dm_control, kitchen, Crafter
IDS = [WALKER, "vpt_gym/kitchen-microwave-v0", "vpt_gym/Crafter-v1"]
CHEAP = {WALKER: {"render_quality": "fast"}, "vpt_gym/Crafter-v1": {"area": (24, 24)}}


@pytest.fixture
def no_display(monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(render_modes.sys, "platform", "linux")


@pytest.mark.parametrize("env_id", IDS)
def test_human_without_a_display_is_refused_naming_what_works(no_display, env_id):
    with pytest.raises(ValueError, match=r"no display.*render_mode=None and render_mode='rgb_array'.*RecordVideo"):
        gym.make(env_id, render_mode="human")


def test_unknown_render_mode_names_the_supported_ones():
    with pytest.raises(ValueError, match=r"None, 'rgb_array' or 'human'.*got 'ansi'"):
        gym.make(WALKER, render_mode="ansi")


def test_human_without_pygame_names_the_extra(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        render_modes.importlib.util, "find_spec",
        lambda name, *a: None if name == "pygame" else real_find_spec(name, *a),
    )
    with pytest.raises(MissingDependency, match=r'pip install -e "\.\[human\]"'):
        gym.make(WALKER, render_mode="human")


@pytest.mark.parametrize("env_id", IDS)
def test_human_with_a_display_shows_the_frames(monkeypatch, env_id):
    """SDL's dummy video driver stands in for a display: the window is real pygame, drawn nowhere."""
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = gym.make(env_id, render_mode="human", **CHEAP.get(env_id, {}))
    assert env.render_mode == "human"
    assert "human" in env.metadata["render_modes"]
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.flags.c_contiguous
    env.step(env.action_space.sample())
    assert pygame.display.get_surface().get_size() == (64, 64)
    env.close()


@pytest.mark.parametrize("env_id", [WALKER, "vpt_gym/Crafter-v1"])
def test_record_video_writes_an_mp4_of_the_episode(tmp_path, env_id):
    pytest.importorskip("moviepy", reason='moviepy comes with the "bench" extra')
    import imageio.v3 as iio

    env = gym.make(env_id, render_mode="rgb_array", **CHEAP.get(env_id, {}))
    folder = tmp_path / "videos"
    env = gym.wrappers.RecordVideo(env, str(folder), episode_trigger=lambda episode: True,
                                   video_length=6, disable_logger=True)
    env.reset(seed=0)
    for _ in range(8):
        env.step(env.action_space.sample())
    env.close()
    videos = sorted(folder.glob("*.mp4"))
    assert len(videos) == 1
    frames = iio.imread(videos[0])
    assert frames.shape == (7, 64, 64, 3)  # the reset frame, then video_length=6 steps
    assert np.asarray(frames).std() > 5  # real frames, not blank ones

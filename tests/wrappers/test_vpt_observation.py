"""VPTObservationWrapper: pov -> 128x128x3 uint8 with cv2 INTER_LINEAR, aspect ratio not kept."""
from __future__ import annotations

import doctest

import cv2
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import wrappers.vpt_observation
from tests.support.minerl_spaces import MineRLSpacesEnv
from wrappers.vpt_observation import VPTObservationWrapper


def reference_resize(pov: np.ndarray, size: int = 128) -> np.ndarray:
    return cv2.resize(pov, (size, size), interpolation=cv2.INTER_LINEAR)


def test_space_and_frame_match_cv2() -> None:
    env = VPTObservationWrapper(MineRLSpacesEnv())
    assert env.observation_space == gym.spaces.Box(0, 255, (128, 128, 3), np.uint8)
    frame, _ = env.reset(seed=3)
    raw, _ = env.env.reset(seed=3)  # same seed, same random pov
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    assert np.array_equal(frame, reference_resize(raw["pov"]))
    assert env.observation_space.contains(frame)


def test_aspect_ratio_is_not_kept_and_channels_stay_rgb() -> None:
    env = VPTObservationWrapper(MineRLSpacesEnv())
    pov = np.zeros((360, 640, 3), np.uint8)
    pov[:, 320:, 0] = 255  # right half red
    pov[180:, :, 2] = 200  # bottom half blue
    frame = env.observation({"pov": pov})
    assert np.array_equal(frame, reference_resize(pov))
    # squashed, not cropped/padded: the red half is the right half of the square, channel 0 stays red
    assert (frame[:, :63, 0] == 0).all() and (frame[:, 65:, 0] == 255).all()
    assert (frame[:63, :, 2] == 0).all() and (frame[65:, :, 2] == 200).all()
    assert (frame[..., 1] == 0).all()
    # not the same as a different filter (the wrapper does not use nearest/area)
    gradient = np.tile(np.arange(640, dtype=np.uint8)[None, :, None] * 3 % 251, (360, 1, 3)).astype(np.uint8)
    linear = env.observation(gradient)
    assert np.array_equal(linear, reference_resize(gradient))
    assert not np.array_equal(linear, cv2.resize(gradient, (128, 128), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("size", [64, 96, 200])
def test_size_parameter(size: int) -> None:
    env = VPTObservationWrapper(MineRLSpacesEnv(), size=size)
    assert env.observation_space.shape == (size, size, 3)
    pov = np.random.default_rng(size).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    assert np.array_equal(env.observation({"pov": pov}), reference_resize(pov, size))


def test_plain_array_observations() -> None:
    env = VPTObservationWrapper(MineRLSpacesEnv(pov_shape=(90, 160, 3), dict_obs=False))
    frame, _ = env.reset(seed=1)
    raw, _ = env.env.reset(seed=1)
    assert np.array_equal(frame, reference_resize(raw))


def test_non_contiguous_pov() -> None:
    env = VPTObservationWrapper(MineRLSpacesEnv())
    pov = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)[::-1]  # a flipped view
    assert np.array_equal(env.observation({"pov": pov}), reference_resize(np.ascontiguousarray(pov)))


def test_extra_observation_entries_are_dropped() -> None:
    env = VPTObservationWrapper(MineRLSpacesEnv())
    pov = np.full((360, 640, 3), 9, np.uint8)
    frame = env.observation({"pov": pov, "inventory": {"dirt": 3}})
    assert isinstance(frame, np.ndarray) and (frame == 9).all()


@pytest.mark.parametrize(
    ("observation", "message"),
    [
        ({"pov": np.zeros((360, 640, 3), np.float32)}, "uint8 .*got shape \\(360, 640, 3\\), dtype float32"),
        ({"pov": np.zeros((360, 640), np.uint8)}, r"got shape \(360, 640\)"),
        ({"pov": np.zeros((360, 640, 4), np.uint8)}, r"got shape \(360, 640, 4\)"),
        ({"pov": [[0, 0, 0]]}, "got list"),
        ({"rgb": np.zeros((360, 640, 3), np.uint8)}, r"expected a 'pov' entry; the observation has \['rgb'\]"),
        (np.zeros((3, 360, 640), np.uint8), r"got shape \(3, 360, 640\)"),
    ],
)
def test_bad_observations(observation, message: str) -> None:
    env = VPTObservationWrapper(MineRLSpacesEnv())
    with pytest.raises(ValueError, match=message):
        env.observation(observation)


class SpaceEnv(gym.Env):
    def __init__(self, observation_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = gym.spaces.Discrete(2)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (gym.spaces.Dict({"rgb": gym.spaces.Box(0, 255, (360, 640, 3), np.uint8)}), r"needs a 'pov' entry.*\['rgb'\]"),
        (gym.spaces.Box(0, 1, (4,)), "needs \\(H, W, 3\\) RGB frames"),
        (gym.spaces.Discrete(3), "needs \\(H, W, 3\\) RGB frames"),
    ],
)
def test_rejects_envs_without_frames(space: gym.Space, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VPTObservationWrapper(SpaceEnv(space))


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_bad_size(size) -> None:
    with pytest.raises(ValueError, match="size must be a positive integer"):
        VPTObservationWrapper(MineRLSpacesEnv(), size=size)


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized space")
def test_env_checker_passes() -> None:
    from wrappers.vpt_action import VPTActionWrapper

    env = VPTObservationWrapper(VPTActionWrapper(MineRLSpacesEnv()))
    check_env(env.unwrapped, skip_render_check=True)
    frame, _ = env.reset(seed=0)
    for _ in range(3):
        frame, *_ = env.step(env.action_space.sample())
        assert env.observation_space.contains(frame)


def test_docstring_example() -> None:
    assert doctest.testmod(wrappers.vpt_observation).failed == 0

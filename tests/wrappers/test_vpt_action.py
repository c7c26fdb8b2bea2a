"""VPTActionWrapper: MultiDiscrete([8641, 121]) on top of MineRL 1.0's 24-key action dict."""
from __future__ import annotations

import doctest

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import wrappers.vpt_action
from tests.support.minerl_spaces import MINERL_BINARY_KEYS, MineRLSpacesEnv
from vpt_gym.actions import BUTTONS, agent_to_env, env_to_agent
from wrappers.vpt_action import VPTActionWrapper


@pytest.fixture()
def env() -> VPTActionWrapper:
    return VPTActionWrapper(MineRLSpacesEnv())


def test_action_space(env: VPTActionWrapper) -> None:
    assert isinstance(env.action_space, gym.spaces.MultiDiscrete)
    assert env.action_space.nvec.tolist() == [8641, 121]
    assert env.observation_space == env.env.observation_space


def test_step_sends_full_minerl_dict(env: VPTActionWrapper) -> None:
    env.reset(seed=0)
    env.step(np.array([289, 64]))  # forward, camera bins (5, 9)
    sent = env.unwrapped.actions[-1]
    assert set(sent) == set(MINERL_BINARY_KEYS) | {"camera"}
    assert env.unwrapped.action_space.contains(sent)
    assert [key for key in MINERL_BINARY_KEYS if sent[key]] == ["forward"]
    assert sent["ESC"] == sent["pickItem"] == sent["swapHands"] == 0
    assert sent["camera"].dtype == np.float32 and sent["camera"].shape == (2,)
    assert sent["camera"].tolist() == [0.0, np.float32(5.809483127522302)]


@pytest.mark.parametrize(
    ("agent_action", "pressed", "camera"),
    [
        ((0, 60), [], (0.0, 0.0)),
        ((295, 70), ["attack", "forward", "jump"], (0.615394, -0.615394)),
        ((2592, 60), ["hotbar.3"], (0.0, 0.0)),
        ((288, 65), ["forward"], (0.0, 0.0)),  # camera meta off: the camera class is not used
        ((1, 110), [], (10.0, -10.0)),
        ((8640, 60), ["inventory"], (0.0, 0.0)),
    ],
)
def test_action_values(env: VPTActionWrapper, agent_action, pressed, camera) -> None:
    minerl_action = env.action(np.array(agent_action))
    assert sorted(key for key in MINERL_BINARY_KEYS if minerl_action[key] == 1) == sorted(pressed)
    assert all(type(minerl_action[key]) is int and minerl_action[key] in (0, 1) for key in MINERL_BINARY_KEYS)
    np.testing.assert_allclose(minerl_action["camera"], camera, rtol=0, atol=5e-7)


def test_action_agrees_with_agent_to_env_for_every_button_class(env: VPTActionWrapper) -> None:
    rng = np.random.default_rng(0)
    for button_class in range(8641):
        camera_class = int(rng.integers(0, 121))
        minerl_action = env.action(np.array([button_class, camera_class]))
        expected = agent_to_env(np.array([button_class, camera_class]))
        assert [minerl_action[key] for key in BUTTONS] == [int(expected[key]) for key in BUTTONS]
        assert np.array_equal(minerl_action["camera"], expected["camera"].astype(np.float32))


def test_action_accepts_integer_sequences_and_dtypes(env: VPTActionWrapper) -> None:
    reference = env.action(np.array([295, 70]))
    for action in ([295, 70], (295, 70), np.array([295, 70], np.int32), np.array([295, 70], np.uint16),
                   (np.int64(295), np.int64(70))):  # fmt: skip
        minerl_action = env.action(action)
        assert {k: v for k, v in minerl_action.items() if k != "camera"} == {
            k: v for k, v in reference.items() if k != "camera"
        }
        assert np.array_equal(minerl_action["camera"], reference["camera"])
    sample = env.action_space.sample()
    assert set(env.action(sample)) == set(MINERL_BINARY_KEYS) | {"camera"}


def test_returned_camera_is_a_fresh_array(env: VPTActionWrapper) -> None:
    first = env.action(np.array([1, 0]))
    first["camera"][:] = 99
    assert env.action(np.array([1, 0]))["camera"].tolist() == [-10.0, -10.0]


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.integers(0, 8640), st.integers(0, 120)))
def test_reverse_action_inverts_action_on_canonical_form(action) -> None:
    env = VPTActionWrapper(MineRLSpacesEnv())
    back = env.reverse_action(env.action(np.array(action)))
    assert back.dtype == np.int64 and back.shape == (2,)
    # identical to the array-level round trip (which the action-space tests check exhaustively)
    assert back.tolist() == env_to_agent(agent_to_env(np.array(action))).tolist()
    # and a fixed point from there on
    assert env.reverse_action(env.action(back)).tolist() == back.tolist()


def test_reverse_action_of_recorded_actions(env: VPTActionWrapper) -> None:
    assert env.reverse_action({"forward": 1, "camera": np.array([0.0, 5.0], np.float32)}).tolist() == [289, 64]
    assert env.reverse_action({"ESC": 1}).tolist() == [0, 60]
    with pytest.raises(ValueError, match="unknown env action key 'fly'"):
        env.reverse_action({"fly": 1})



@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.array([289.0, 64.0]), r"got dtype float64: array\(\[289\., +64\.\]\)"),
        (np.array([np.nan, 60.0]), r"got dtype float64: array\(\[nan, 60\.\]\)"),
        (np.array([True, False]), "dtype bool"),
        (np.array([289, 64, 0]), r"shape \(3,\)"),
        (np.array([[289, 64]]), r"shape \(1, 2\)"),
        (np.array(289), r"shape \(\)"),
        (np.array([8641, 60]), r"action array\(\[8641, +60\]\) out of range.*\[0, 8641\)"),
        (np.array([-1, 60]), "out of range"),
        (np.array([0, 121]), "camera class in \\[0, 121\\)"),
        ([289.5, 64], "dtype float64"),
        ({"forward": 1}, "got a dict"),
        ("forward", "dtype <U7"),
    ],
)
def test_bad_actions(env: VPTActionWrapper, action, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        env.action(action)
    assert "MultiDiscrete([8641, 121])" in str(error.value)


def test_nan_action_names_the_value(env: VPTActionWrapper) -> None:
    with pytest.raises(ValueError, match=r"nan"):
        env.step(np.array([np.nan, 60.0]))
    assert env.unwrapped.actions == []  # nothing reached the env


class SpaceEnv(gym.Env):
    def __init__(self, action_space: gym.Space) -> None:
        self.action_space = action_space
        self.observation_space = gym.spaces.Box(0, 255, (360, 640, 3), np.uint8)


def minerl_entries() -> dict:
    return dict(MineRLSpacesEnv().action_space.spaces)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (gym.spaces.Discrete(5), "MineRL 1.0's Dict of 24 keys"),
        (gym.spaces.Dict({k: v for k, v in minerl_entries().items() if k != "ESC"}), r"missing \['ESC'\]"),
        (gym.spaces.Dict({**minerl_entries(), "fly": gym.spaces.Discrete(2)}), r"unexpected keys \['fly'\]"),
        (gym.spaces.Dict({**minerl_entries(), "jump": gym.spaces.Discrete(3)}), "'jump' must be Discrete\\(2\\)"),
        (gym.spaces.Dict({**minerl_entries(), "camera": gym.spaces.Box(-1, 1, (3,))}), "'camera' must be a Box of shape"),
    ],
)
def test_rejects_envs_without_minerl_actions(space: gym.Space, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VPTActionWrapper(SpaceEnv(space))


@pytest.mark.filterwarnings("ignore:.*symmetric and normalized space")
def test_gymnasium_env_checker_passes(env: VPTActionWrapper) -> None:
    check_env(env.unwrapped, skip_render_check=True)  # the fake itself is a valid env
    env.reset(seed=0)
    for _ in range(5):
        observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.unwrapped.observation_space.contains(observation)


def test_docstring_example() -> None:
    assert doctest.testmod(wrappers.vpt_action).failed == 0


@pytest.mark.parametrize("action", [np.array([1 + 0j, 2]), [1 + 2j, 3]])
def test_complex_actions_are_refused_not_truncated_to_their_real_part(env: VPTActionWrapper, action) -> None:
    with pytest.raises(ValueError, match="got dtype complex128"):
        env.action(action)
    with pytest.raises(ValueError, match="camera' must be real numbers; got dtype complex128"):
        env.reverse_action({"camera": np.array([0.5 + 1j, 0.0])})
    with pytest.raises(ValueError, match="'forward' must be 0 or 1"):
        env.reverse_action({"forward": 1 + 0j})

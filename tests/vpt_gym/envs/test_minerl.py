"""The MineRL 1.0 adapter against the in-test double of MineRL 1.0's API."""
from __future__ import annotations

import sys
import types

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import vpt_gym
from vpt_gym.envs.minerl_double import BINARY_KEYS, DoubleFactory
from vpt_gym.envs.minerl import MineRLCompat, to_gymnasium_space
from vpt_gym.optional import MissingDependency
from vpt_gym.registration import MINERL_TASKS

FIND_CAVE = "MineRLBasaltFindCave-v0"


def make_vpt_env(minerl_id: str = FIND_CAVE, max_episode_steps: int | None = None, **kwargs):
    factory = DoubleFactory(minerl_id, max_episode_steps=max_episode_steps)
    env = gym.make(f"vpt_gym/{minerl_id}", minerl_factory=factory, **kwargs)
    return env, factory


def test_every_minerl_task_is_registered_with_its_episode_length():
    assert vpt_gym.env_ids("minerl") == [f"vpt_gym/{name}" for name in MINERL_TASKS]
    assert gym.spec("vpt_gym/MineRLBasaltFindCave-v0").max_episode_steps == 3600
    assert gym.spec("vpt_gym/MineRLBasaltMakeWaterfall-v0").max_episode_steps == 6000
    assert gym.spec("vpt_gym/MineRLBasaltCreateVillageAnimalPen-v0").max_episode_steps == 6000
    assert gym.spec("vpt_gym/MineRLBasaltBuildVillageHouse-v0").max_episode_steps == 14400
    assert gym.spec("vpt_gym/MineRLObtainDiamondShovel-v0").max_episode_steps == 18000
    assert gym.spec("vpt_gym/MineRLHumanSurvival-v0").max_episode_steps is None


def test_unknown_env_id_lists_the_valid_ones():
    with pytest.raises(gym.error.Error, match="MineRLBasaltFindCave-v0"):
        vpt_gym.make("vpt_gym/MineRLBasaltFindCav-v0")
    with pytest.raises(gym.error.Error):
        gym.make("vpt_gym/NoSuchEnv-v0")


def test_unknown_minerl_id_in_factory():
    from vpt_gym.envs.minerl import make

    with pytest.raises(ValueError, match="MineRLTreechop-v0.*expected one of"):
        make("MineRLTreechop-v0", minerl_factory=DoubleFactory("MineRLTreechop-v0"))


def test_missing_minerl_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "minerl", None)  # makes `import minerl` raise ImportError
    with pytest.raises(MissingDependency) as err:
        gym.make("vpt_gym/MineRLBasaltFindCave-v0")
    message = str(err.value)
    assert 'pip install -e ".[minerl]"' in message and "vpt-gym[" not in message  # not on PyPI
    assert "apt-get install -y temurin-8-jdk" in message and "packages.adoptium.net" in message
    assert "apt-get install openjdk-8-jdk" not in message  # no install candidate on Debian 12
    assert "JDK" in message and "xvfb-run" in message


def test_default_factory_uses_minerl_registered_gym_ids(monkeypatch):
    """Without a factory, make() imports minerl (which registers its ids) and calls old gym's make."""
    made: list[str] = []

    def old_gym_make(minerl_id: str):
        made.append(minerl_id)
        return DoubleFactory(minerl_id, max_episode_steps=3600)()

    monkeypatch.setitem(sys.modules, "minerl", types.ModuleType("minerl"))
    monkeypatch.setitem(sys.modules, "gym", types.SimpleNamespace(make=old_gym_make))
    env = gym.make("vpt_gym/MineRLBasaltFindCave-v0")
    obs, _ = env.reset(seed=3)
    assert made == [FIND_CAVE]
    assert obs.shape == (128, 128, 3) and obs.dtype == np.uint8
    assert env.spec.max_episode_steps == 3600


def test_vpt_spaces_and_actions_reach_minecraft_as_minerl_dicts():
    env, factory = make_vpt_env()
    assert env.action_space == gym.spaces.MultiDiscrete([8641, 121])
    assert env.observation_space == gym.spaces.Box(0, 255, (128, 128, 3), np.uint8)
    env.reset(seed=0)
    env.step(np.array([288, 60]))  # forward, no camera movement
    env.step(np.array([289, 64]))  # forward + camera meta, camera bins (5, 9)
    sent = factory.made[0].actions
    assert set(sent[0]) == set(BINARY_KEYS) | {"camera"}
    assert {k for k in BINARY_KEYS if int(sent[0][k]) == 1} == {"forward"}
    for key in ("ESC", "pickItem", "swapHands"):  # never predicted by VPT; filled with 0
        assert int(sent[0][key]) == 0
    np.testing.assert_array_equal(sent[0]["camera"], [0.0, 0.0])
    np.testing.assert_allclose(sent[1]["camera"], [0.0, 5.809483], atol=1e-6)
    assert np.asarray(sent[1]["camera"]).dtype == np.float32


def test_basalt_double_needs_esc_and_the_vpt_stack_supplies_it():
    raw = DoubleFactory(FIND_CAVE)()
    raw.reset()
    with pytest.raises(KeyError):
        raw.step({"forward": 1, "camera": np.zeros(2, np.float32)})  # BASALT reads action["ESC"]
    env, _ = make_vpt_env()
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(np.array([0, 60]))
    assert not terminated and not truncated


def test_observation_is_the_resized_pov_and_reset_is_deterministic_under_a_seed():
    import cv2

    env, factory = make_vpt_env()
    obs_a, _ = env.reset(seed=7)
    obs_b, _ = env.reset(seed=7)
    obs_c, _ = env.reset(seed=8)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert not np.array_equal(obs_a, obs_c)
    pov = factory.made[0].render()
    np.testing.assert_array_equal(obs_c, cv2.resize(pov, (128, 128), interpolation=cv2.INTER_LINEAR))


def test_unseeded_resets_after_a_seeded_one_replay_the_same_worlds():
    env, factory = make_vpt_env()
    first = [env.reset(seed=42)[0]] + [env.reset()[0] for _ in range(2)]
    again = [env.reset(seed=42)[0]] + [env.reset()[0] for _ in range(2)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], first[2])  # but each episode is a new world


def test_time_limit_is_truncation_not_termination():
    env, _ = make_vpt_env(max_episode_steps=3)
    env.reset(seed=0)
    results = [env.step(np.array([0, 60]))[2:4] for _ in range(3)]
    assert results == [(False, False), (False, False), (False, True)]


def test_done_from_minecraft_is_termination():
    compat = MineRLCompat(DoubleFactory(FIND_CAVE))
    compat.reset(seed=0)
    action = {k: 0 for k in BINARY_KEYS} | {"camera": np.zeros(2, np.float32), "ESC": 1}
    _, _, terminated, truncated, _ = compat.step(action)
    assert terminated and not truncated


def test_socket_error_reported_in_info_is_truncation():
    compat = MineRLCompat(DoubleFactory(FIND_CAVE, fail_at_steps=(2,)))
    compat.reset(seed=0)
    noop = {k: 0 for k in BINARY_KEYS} | {"camera": np.zeros(2, np.float32)}
    assert compat.step(noop)[2:4] == (False, False)
    _, reward, terminated, truncated, info = compat.step(noop)
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["error"] == "Connection timed out!"


def test_compat_rejects_unknown_keys_and_non_dicts():
    compat = MineRLCompat(DoubleFactory(FIND_CAVE))
    compat.reset(seed=0)
    with pytest.raises(ValueError, match="'jumpp'"):
        compat.step({"jumpp": 1})
    with pytest.raises(TypeError, match="dicts"):
        compat.step(np.array([0, 60]))


def test_missing_keys_are_not_pressed_outside_basalt():
    compat = MineRLCompat(DoubleFactory("MineRLObtainDiamondShovel-v0"))
    compat.reset(seed=0)
    _, reward, _, _, _ = compat.step({"attack": 1})  # the double rewards attack outside BASALT
    assert reward == 1.0


def test_space_conversion():
    compat = MineRLCompat(DoubleFactory("MineRLHumanSurvival-v0"))
    space = compat.observation_space
    assert space["pov"] == gym.spaces.Box(0, 255, (360, 640, 3), np.uint8)
    assert isinstance(space["inventory"], gym.spaces.Dict)
    assert compat.action_space["camera"] == gym.spaces.Box(-180, 180, (2,), np.float32)
    assert compat.action_space["forward"] == gym.spaces.Discrete(2)
    enum = types.SimpleNamespace(values=("none", "wooden_pickaxe"))
    text = to_gymnasium_space(enum)
    assert isinstance(text, gym.spaces.Text) and text.contains("wooden_pickaxe")
    with pytest.raises(TypeError, match="Cannot convert"):
        to_gymnasium_space(object())


def test_render_returns_the_full_frame():
    env, _ = make_vpt_env(render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().shape == (360, 640, 3)


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
@pytest.mark.parametrize("minerl_id", list(MINERL_TASKS))
def test_gymnasium_and_sb3_check_env_pass(minerl_id):
    env, _ = make_vpt_env(minerl_id)
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(env, warn=True)


def test_make_passes_the_watchdog_timeouts_to_the_restart_wrapper():
    from wrappers.restart import MineRLRestart

    env, factory = make_vpt_env(FIND_CAVE, step_timeout=120, restart_timeout=600)
    restart = next(w for w in _wrappers(env) if isinstance(w, MineRLRestart))
    assert (restart.step_timeout, restart.restart_timeout) == (120, 600)
    env.reset(seed=0)
    env.step(np.array([288, 60]))  # the steps go through the watchdog's worker thread
    assert len(factory.made[0].actions) == 1
    env.close()
    with pytest.raises(ValueError, match="restart_timeout must be a finite number of seconds > 0"):
        make_vpt_env(FIND_CAVE, restart_timeout=0)


def _wrappers(env):
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env

"""dm_control envs with GenRL's settings (vpt_gym.envs.dmc), over every registered dmc id.

Default run: the gymnasium contract on state observations for every id (physics only, fast),
pixels for one id per domain at fast render quality, one full episode, the options and errors.
Slow (``pytest -m slow``): pixels at default quality and a full 500-step episode for every id,
and an SB3 PPO ``CnnPolicy`` smoke run.
"""
from __future__ import annotations

import importlib.util
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vpt_gym
from vpt_gym.envs import dmc
from vpt_gym.tasks import TASKS

DMC_IDS = vpt_gym.env_ids("dmc")
# one id per domain, for the pixel checks of the default run
PIXEL_IDS = [
    "vpt_gym/walker-walk-v0",
    "vpt_gym/cheetah-run-v0",
    "vpt_gym/quadruped-jump-v0",
    "vpt_gym/stickman-stand-v0",
]


def make(env_id: str, **kwargs) -> gym.Env:
    """``gym.make``, skipping only while a custom domain's module has not been written yet."""
    domain = env_id.split("/")[1].split("-")[0]
    if domain == "stickman" and importlib.util.find_spec("vpt_gym.envs.suites.stickman") is None:
        pytest.skip("vpt_gym/envs/suites/stickman.py does not exist yet")
    return gym.make(env_id, **kwargs)


def check(env: gym.Env, **kwargs) -> None:
    with warnings.catch_warnings():
        # our env is wrappers over shimmy's on purpose, and state boxes are unbounded
        warnings.simplefilter("ignore", UserWarning)
        check_env(env, **kwargs)


def rollout(env: gym.Env, seed: int, steps: int):
    """Observations and rewards of ``steps`` steps with actions drawn from ``seed``."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(reward)
        assert not terminated and not truncated
    return np.stack(observations), np.array(rewards)


def test_registration_matches_the_task_table():
    expected = [t.env_id for t in TASKS.values() if t.domain != "kitchen"]
    assert DMC_IDS == expected and len(DMC_IDS) == 31
    entries = {entry.id: entry for entry in vpt_gym.ENV_TABLE}
    for task in TASKS.values():
        entry = entries[task.env_id]
        assert entry.max_episode_steps is None
        if task.domain == "kitchen":
            assert (entry.family, entry.entry_point) == ("kitchen", "vpt_gym.envs.kitchen:make")
            assert entry.kwargs == {"task": task.task}
        else:
            assert (entry.family, entry.entry_point) == ("dmc", "vpt_gym.envs.dmc:make")
            assert entry.kwargs == {"domain": task.domain, "task": task.task}
    assert "vpt_gym/walker-lying_down-v0" in gym.registry


@pytest.mark.parametrize("env_id", DMC_IDS)
def test_state_env_contract(env_id):
    """check_env, flat float32 obs, exact determinism under a seed, rewards in [0, 2]."""
    env = make(env_id, obs_type="state")
    check(env)
    space = env.observation_space
    assert space.dtype == np.float32 and len(space.shape) == 1
    assert env.action_space == gym.spaces.Box(-1, 1, env.action_space.shape, np.float32)
    obs_a, rewards_a = rollout(env, seed=7, steps=20)
    obs_b, rewards_b = rollout(env, seed=7, steps=20)
    assert obs_a.dtype == np.float32 and obs_a.shape[1:] == space.shape
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rewards_a, rewards_b)
    assert np.all(np.isfinite(rewards_a))
    assert np.all((rewards_a >= 0.0) & (rewards_a <= 2.0))  # two control steps of [0, 1] each
    obs_c, _ = rollout(env, seed=8, steps=1)
    assert not np.array_equal(obs_a[0], obs_c[0])  # the seed matters
    env.close()


def _pixel_contract(env_id: str, render_quality: str) -> None:
    env = make(env_id, render_quality=render_quality)
    check(env, skip_render_check=True)
    assert env.observation_space == gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    obs_a, rewards_a = rollout(env, seed=3, steps=10)
    obs_b, rewards_b = rollout(env, seed=3, steps=10)
    assert obs_a.dtype == np.uint8 and obs_a.shape == (11, 64, 64, 3)
    assert obs_a.std() > 5  # a real image, not a blank frame
    # EGL/OSMesa frames are not guaranteed bit-exact: compare with a tolerance
    assert np.abs(obs_a.astype(int) - obs_b.astype(int)).mean() < 1.0
    np.testing.assert_array_equal(rewards_a, rewards_b)
    assert np.all(np.isfinite(rewards_a)) and np.all((rewards_a >= 0) & (rewards_a <= 2))
    env.close()


@pytest.mark.parametrize("env_id", PIXEL_IDS)
def test_pixel_env_contract_fast_quality(env_id):
    _pixel_contract(env_id, "fast")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", DMC_IDS)
def test_pixel_env_contract_default_quality(env_id):
    _pixel_contract(env_id, "default")


def _full_episode(env: gym.Env, seed: int = 0) -> tuple[int, float]:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    steps, total = 0, 0.0
    while True:
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        total += reward
        assert not terminated
        if truncated:
            return steps, total
        assert steps < 10_000


def test_episode_is_500_agent_steps_then_truncated():
    env = make("vpt_gym/cheetah-run-v0", obs_type="state")
    steps, total = _full_episode(env)
    assert steps == 500
    assert 0.0 <= total <= 1000.0
    assert not any(isinstance(w, gym.wrappers.TimeLimit) for w in _wrappers(env))


@pytest.mark.slow
@pytest.mark.parametrize("env_id", DMC_IDS)
def test_full_pixel_episode(env_id):
    env = make(env_id, render_quality="fast")
    steps, total = _full_episode(env)
    assert steps == 500 and 0.0 <= total <= 1000.0


@pytest.mark.parametrize("repeat, length", [(1, 1000), (3, 334), (4, 250)])
def test_action_repeat_sets_episode_length(repeat, length):
    env = dmc.make("cheetah", "run", obs_type="state", action_repeat=repeat)
    assert _full_episode(env)[0] == length


def test_action_repeat_sums_rewards():
    """One agent step at repeat 2 equals two control steps at repeat 1 (same seed, same action)."""
    action = np.full(6, 0.3, np.float32)
    single = dmc.make("walker", "walk", obs_type="state", action_repeat=1, seed=0)
    double = dmc.make("walker", "walk", obs_type="state", action_repeat=2, seed=0)
    single.reset(seed=0)
    double.reset(seed=0)
    expected = single.step(action)[1] + single.step(action)[1]
    obs_single = single.step(action)[0]
    obs_double, reward, *_ = double.step(action)
    assert reward == pytest.approx(expected)
    assert not np.array_equal(obs_single, obs_double)  # the single env is one step further


def test_state_obs_flattens_walker_height_in_dm_control_order():
    env = dmc.make("walker", "stand", obs_type="state")
    obs, _ = env.reset(seed=0)
    physics = dmc.physics_of(env)
    assert obs.shape == (24,)  # orientations 14 + height 1 (0-d in dm_control) + velocity 9
    assert obs[14] == np.float32(physics.torso_height())
    np.testing.assert_array_equal(obs[:14], physics.orientations().astype(np.float32))


def test_nan_and_bad_actions_raise():
    env = dmc.make("walker", "walk", obs_type="state")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array([0, 0, np.nan, 0, 0, 0], np.float32))
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array([0, 0, np.inf, 0, 0, 0], np.float32))
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        env.step(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="array of real numbers"):
        env.step(["a"] * 6)


def test_out_of_range_actions_are_clipped_by_default_or_raise():
    big = np.array([3.0, -2.0, 1.5, -1.0, 0.5, 7.0])
    clipped = np.clip(big, -1, 1)
    results = []
    for action in (big, clipped):
        env = dmc.make("walker", "walk", obs_type="state")
        env.reset(seed=0)
        results.append(env.step(action))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
    strict = dmc.make("walker", "walk", obs_type="state", out_of_range="raise")
    strict.reset(seed=0)
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        strict.step(big)
    strict.step(clipped)  # in range: fine


def test_actions_are_rescaled_to_the_quadruped_actuator_range():
    env = dmc.make("quadruped", "walk", obs_type="state")
    low, high = env.unwrapped.action_space.low, env.unwrapped.action_space.high
    assert not np.all(low == -1)  # the quadruped's actuators are not [-1, 1]
    bounded = next(w for w in _wrappers(env) if isinstance(w, dmc.BoundedAction))
    np.testing.assert_allclose(bounded.action(-np.ones(12)), low)
    np.testing.assert_allclose(bounded.action(np.ones(12)), high)
    np.testing.assert_allclose(bounded.action(np.zeros(12)), (low + high) / 2)


def test_unknown_domain_and_task_list_the_valid_ones():
    with pytest.raises(ValueError) as info:
        dmc.make("walkr", "walk")
    assert "Did you mean walker" in str(info.value)
    for domain in ("walker", "cheetah", "quadruped", "cartpole"):
        assert domain in str(info.value)
    with pytest.raises(ValueError) as info:
        dmc.make("walker", "lie_down")
    message = str(info.value)
    assert "'lie_down'" in message and "Did you mean lying_down" in message
    for task in ("stand", "walk", "run", "flipping", "one_foot", "high_kick", "sit_knees"):
        assert task in message
    with pytest.raises(ValueError, match="kitchen is not a dm_control domain"):
        dmc.make("kitchen", "microwave")
    with pytest.raises(gym.error.UnregisteredEnv, match="walker-walk-v0"):
        vpt_gym.make("vpt_gym/walker-wlak-v0")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"obs_type": "rgb"}, "obs_type"),
        ({"render_mode": "human"}, "render_mode"),
        ({"render_quality": "low"}, "render_quality"),
        ({"size": 0}, "size"),
        ({"action_repeat": 0}, "action_repeat"),
        ({"camera_id": 5}, "camera_id"),
        ({"out_of_range": "wrap"}, "out_of_range"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dmc.make("walker", "walk", **kwargs)


def test_camera_defaults_and_size():
    quadruped = dmc.make("quadruped", "stand", render_quality="fast")
    obs, _ = quadruped.reset(seed=0)
    physics = dmc.physics_of(quadruped)
    for camera, close in ((2, True), (0, False)):
        frame = physics.render(64, 64, camera_id=camera).astype(int)
        assert bool(np.abs(frame - obs).mean() < 1.0) is close
    small = dmc.make("walker", "walk", size=32, render_quality="fast")
    assert small.reset(seed=0)[0].shape == (32, 32, 3)
    assert small.render().shape == (32, 32, 3)


def test_fast_render_quality_changes_pixels_only_slightly():
    frames = {}
    for quality in ("default", "fast"):
        env = dmc.make("walker", "stand", render_quality=quality)
        frames[quality] = env.reset(seed=0)[0].astype(int)
        visual = dmc.physics_of(env).model.vis.quality
        settings = (visual.offsamples, visual.shadowsize)
        if quality == "fast":
            assert settings == (0, 512)
        else:  # the model's own settings (walker: 4 samples, 2048 shadow map)
            assert settings[0] > 0 and settings[1] > 512
    difference = np.abs(frames["default"] - frames["fast"]).mean()
    assert 0.0 < difference < 3.0  # about 1/255 on average per the platform notes


def test_render_mode_on_state_env():
    env = make("vpt_gym/walker-walk-v0", obs_type="state", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    silent = make("vpt_gym/walker-walk-v0", obs_type="state")
    silent.reset(seed=0)
    assert silent.render() is None
    assert env.metadata["render_fps"] == pytest.approx(20.0)  # 1 / (0.025 s x 2)


def test_seed_argument_seeds_the_first_episode():
    first = [dmc.make("walker", "walk", obs_type="state", seed=5).reset()[0] for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_array_equal(
        first[0], dmc.make("walker", "walk", obs_type="state").reset(seed=5)[0]
    )


def test_custom_tasks_keep_dm_control_loading():
    from dm_control import suite

    import vpt_gym.envs.suites  # noqa: F401

    assert ("walker", "lying_down") in suite.ALL_TASKS
    assert "lying_down" in suite.TASKS_BY_DOMAIN["walker"]
    assert ("cartpole", "swingup") in suite.ALL_TASKS
    assert dmc.valid_tasks()["quadruped"][:2] == ("walk", "run")


def _wrappers(env: gym.Env):
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env
    yield env


@pytest.mark.slow
def test_sb3_ppo_cnn_policy_smoke():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(
        "vpt_gym/walker-walk-v0", n_envs=1, seed=0, env_kwargs={"render_quality": "fast"}
    )
    model = PPO("CnnPolicy", venv, n_steps=128, batch_size=64, n_epochs=1, seed=0, verbose=0)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=256)
    assert model.num_timesteps == 256
    changed = any(
        not np.allclose(a.numpy(), b.detach().numpy())
        for a, b in zip(before, model.policy.parameters())
    )
    assert changed
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (1, 6) and np.all(np.abs(action) <= 1)


# ----------------------------------------------------------------------------- step() validation (issue 16)


@pytest.mark.parametrize("action", [np.array([0.5 + 1j]), [0.1j], np.array([True]), np.array(["0.5"]), [[0.5]]])
def test_actions_that_are_not_real_arrays_of_the_right_shape_are_refused(action):
    import gymnasium as gym

    from vpt_gym.envs.dmc import BoundedAction

    env = BoundedAction(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="real numbers|shape"):
        env.action(action)
    assert env.action([np.float32(0.5)]).tolist() == [1.0]  # real numbers of any width still work
    assert env.action(np.array([1], np.int64)).tolist() == [2.0]


@pytest.mark.parametrize("size", [0, 10**6, 2049, 64.0, True])
def test_size_is_bounded_before_anything_is_allocated(size):
    from vpt_gym.envs.dmc import make

    with pytest.raises(ValueError, match=r"size must be an integer in \[1, 2048\]"):
        make("cartpole", "balance", size=size)


def test_stepping_after_the_episode_ended_raises_instead_of_starting_a_new_one():
    import gymnasium as gym

    from vpt_gym.envs.dmc import ResetAfterEpisodeEnd, make

    env = make("cartpole", "balance", obs_type="state", action_repeat=8, seed=0)
    with pytest.raises(gym.error.ResetNeeded, match="call reset"):
        env.step(np.zeros(1, np.float32))
    env.reset(seed=0)
    truncated, steps = False, 0
    while not truncated:
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        steps += 1
        assert not terminated
    assert steps == 125  # 1000 control steps / 8
    with pytest.raises(gym.error.ResetNeeded, match=r"the episode ended \(truncated\)"):
        env.step(np.zeros(1, np.float32))
    env.reset(seed=1)
    env.step(np.zeros(1, np.float32))  # a new episode runs again
    assert isinstance(env, ResetAfterEpisodeEnd) or any(
        isinstance(w, ResetAfterEpisodeEnd) for w in _wrappers(env))


def _wrappers(env):
    while hasattr(env, "env"):
        yield env
        env = env.env

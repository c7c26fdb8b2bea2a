"""GenRL's Franka kitchen tasks on gymnasium-robotics (skipped without the "kitchen" extra)."""
from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from vpt_gym.envs import kitchen


@pytest.fixture
def robotics():
    """Skip the test cleanly when gymnasium-robotics (the "kitchen" extra) is not installed."""
    return pytest.importorskip("gymnasium_robotics")


def put_element_at(env: gym.Env, task: str, distance: float = 0.0) -> None:
    """Put the task's element ``distance`` away from its goal, towards its start pose, at rest."""
    import mujoco

    spec = kitchen.KITCHEN_TASKS[task]
    base = env.unwrapped
    indices, goal = list(spec.qpos_indices), np.asarray(spec.goal)
    direction = base.data.qpos[indices] - goal
    direction /= np.linalg.norm(direction)
    base.data.qpos[indices] = goal + distance * direction
    base.data.qvel[:] = 0.0
    mujoco.mj_forward(base.model, base.data)


# --- no gymnasium-robotics needed ---------------------------------------------------------------


def test_missing_gymnasium_robotics_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)
    monkeypatch.setitem(sys.modules, "gymnasium_robotics.envs", None)
    monkeypatch.setitem(sys.modules, "gymnasium_robotics.envs.franka_kitchen", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[kitchen\]"'):
        kitchen.make("microwave")


def test_task_table_has_genrl_goals_and_thresholds():
    table = {name: (t.element, t.goal, t.threshold) for name, t in kitchen.KITCHEN_TASKS.items()}
    assert table == {
        "microwave": ("microwave", (-0.75,), 0.25),
        "light": ("light switch", (-0.69, -0.05), 0.5),
        "burner": ("bottom burner", (-0.88, -0.01), 0.5),
        "slide": ("slide cabinet", (0.37,), 0.2),
    }
    for t in kitchen.KITCHEN_TASKS.values():
        assert len(t.qpos_indices) == len(t.goal)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"task": "kettle"}, r"Unknown kitchen task 'kettle'.*microwave, light, burner, slide"),
        ({"task": "micowave"}, r"Did you mean microwave"),
        ({"task": "light", "render_quality": "ultra"}, r"render_quality.*'ultra'"),
        ({"task": "light", "size": 0}, r"size must be a positive integer, got 0"),
        ({"task": "light", "action_repeat": 1.5}, r"action_repeat must be a positive integer"),
        ({"task": "light", "obs_type": "depth"}, r"obs_type.*'depth'"),
        ({"task": "light", "render_mode": "human"}, r"render_mode.*'human'"),
    ],
)
def test_bad_arguments_raise_naming_the_value(kwargs, match):
    task = kwargs.pop("task")
    with pytest.raises(ValueError, match=match):
        kitchen.make(task, **kwargs)


# --- with gymnasium-robotics --------------------------------------------------------------------


@pytest.fixture(scope="module")
def pixel_env():
    pytest.importorskip("gymnasium_robotics")
    env = kitchen.make("microwave")
    yield env
    env.close()


def test_mujoco_enum_fix_is_in_place_only_where_needed(robotics):
    from gymnasium_robotics.envs.franka_kitchen import franka_env

    env = kitchen.make("slide", obs_type="state")
    needed = kitchen._enum_membership_broken()
    assert (franka_env.robot_get_obs is kitchen.robot_joint_state) == needed
    assert kitchen.apply_mujoco_enum_fix() == kitchen._enum_membership_broken()  # idempotent
    # The replacement reads the 9 robot joints, which come first in the kitchen's qpos/qvel.
    base = env.unwrapped
    base.data.qvel[:9] = np.arange(9) * 0.1
    names = base.robot_env.model_names.joint_names
    qpos, qvel = kitchen.robot_joint_state(base.model, base.data, names)
    np.testing.assert_array_equal(qpos, base.data.qpos[:9])
    np.testing.assert_array_equal(qvel, base.data.qvel[:9])
    env.close()


def test_dm_control_still_works_after_the_fix(robotics):
    kitchen.make("light", obs_type="state").close()
    from dm_control import suite

    env = suite.load("walker", "walk", task_kwargs={"random": 0})
    env.reset()
    time_step = env.step(np.zeros(env.action_spec().shape))
    assert np.isfinite(time_step.reward)


def test_pixel_observations_and_spaces(pixel_env):
    assert pixel_env.observation_space == gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    assert pixel_env.action_space == gym.spaces.Box(-1.0, 1.0, (9,), np.float32)
    obs, info = pixel_env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8 and obs.std() > 10
    assert info["success"] is False
    assert info["distance"] == pytest.approx(0.75, abs=0.01)  # door closed, goal -0.75
    obs, reward, terminated, truncated, info = pixel_env.step(pixel_env.action_space.sample())
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert reward == 0.0 and not terminated and not truncated and info["success"] is False
    assert pixel_env.render().shape == (64, 64, 3)


def test_pixels_are_deterministic(pixel_env):
    frames = []
    for _ in range(2):
        obs, _ = pixel_env.reset(seed=1)
        obs, *_ = pixel_env.step(np.full(9, 0.5, np.float32))
        frames.append(obs.astype(int))
    assert np.abs(frames[0] - frames[1]).mean() < 1.0  # EGL is not guaranteed bit-exact


@pytest.mark.parametrize("task", list(kitchen.KITCHEN_TASKS))
def test_success_gives_reward_one_and_ends_the_episode(robotics, task):
    env = kitchen.make(task, obs_type="state")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(np.zeros(9, np.float32))
    assert (reward, terminated, info["success"]) == (0.0, False, False)
    put_element_at(env, task)
    _, reward, terminated, truncated, info = env.step(np.zeros(9, np.float32))
    assert info["distance"] < kitchen.KITCHEN_TASKS[task].threshold
    assert (reward, terminated, truncated, info["success"]) == (1.0, True, False, True)
    env.close()


@pytest.mark.parametrize("task", list(kitchen.KITCHEN_TASKS))
def test_reward_is_the_threshold_test_on_the_distance(robotics, task):
    """Just outside GenRL's threshold is a failure, just inside a success."""
    env = kitchen.make(task, obs_type="state", action_repeat=1)
    threshold = kitchen.KITCHEN_TASKS[task].threshold
    for factor, expected in ((1.3, 0.0), (0.7, 1.0)):
        env.reset(seed=0)
        put_element_at(env, task, distance=factor * threshold)
        _, reward, terminated, _, info = env.step(np.zeros(9, np.float32))
        assert reward == float(info["distance"] < threshold) == expected
        assert terminated == bool(expected)
    env.close()


def test_episode_is_140_agent_steps_and_return_is_zero_or_one(robotics):
    env = kitchen.make("slide", obs_type="state")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (59,) and obs.dtype == np.float32
    total, steps, truncated, terminated = 0.0, 0, False, False
    while not (terminated or truncated):
        _, reward, terminated, truncated, _ = env.step(np.zeros(9, np.float32))
        total += reward
        steps += 1
    assert (steps, truncated, terminated, total) == (140, True, False, 0.0)
    env.close()


def test_state_noise_is_seeded(robotics):
    a = kitchen.make("burner", obs_type="state", seed=3).reset()[0]
    b = kitchen.make("burner", obs_type="state", seed=3).reset()[0]
    c = kitchen.make("burner", obs_type="state").reset(seed=4)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_actions_nan_raises_out_of_range_clips_or_raises(robotics):
    env = kitchen.make("light", obs_type="state")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(9, np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(7, np.float32))
    env.step(np.full(9, 3.0, np.float32))  # clipped, like GenRL
    strict = kitchen.make("light", obs_type="state", out_of_range="raise")
    strict.reset(seed=0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        strict.step(np.full(9, 3.0, np.float32))


def test_fast_render_quality_switches_off_multisampling_shadows_reflections(robotics):
    fast = kitchen.make("microwave", obs_type="state", render_quality="fast").unwrapped.model
    default = kitchen.make("microwave", obs_type="state", render_quality="default").unwrapped.model
    assert fast.vis.quality.offsamples == 0 and fast.vis.quality.shadowsize == 512
    assert not fast.light_castshadow.any() and not fast.mat_reflectance.any()
    assert default.vis.quality.offsamples > 0 and default.light_castshadow.any()


@pytest.mark.slow
def test_gymnasium_check_env(robotics):
    from gymnasium.utils.env_checker import check_env

    env = kitchen.make("microwave")
    check_env(env, skip_render_check=True)
    env.close()
    check_env(kitchen.make("microwave", obs_type="state"), skip_render_check=True)


def test_frames_stay_right_beside_other_renderers(robotics):
    """Two kitchen envs, a dm_control render in between, and a closed + collected env (regression:
    gymnasium's renderer drew black frames once another context was current or had been freed)."""
    import gc

    from dm_control import suite

    first = kitchen.make("microwave")
    reference, _ = first.reset(seed=0)
    second = kitchen.make("slide")
    second.reset(seed=0)
    suite.load("walker", "stand", task_kwargs={"random": 0}).physics.render(32, 32, camera_id=0)
    assert np.abs(first.render().astype(int) - reference).mean() < 1.0
    second.close()
    del second
    gc.collect()
    frame = first.render()
    assert frame.std() > 10
    assert np.abs(frame.astype(int) - reference).mean() < 1.0
    first.close()

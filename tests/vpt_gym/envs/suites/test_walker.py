"""GenRL's custom walker tasks: rewards on hand-set poses, and the tasks load like built-in ones.

The poses are the reference's ``WalkerYogaPoses`` joint vectors (qpos order: rootz, rootx, rooty,
right hip/knee/ankle, left hip/knee/ankle), held still above the floor.
"""
from __future__ import annotations

import numpy as np
import pytest
from dm_control import suite

from vpt_gym.envs.suites import walker

POSES = {
    "upright": [0, 0, 0, 0, 0, 0, 0, 0, 0],
    "lie_back": [-1.2, 0, -1.57, 0, 0, 0, 0, 0, 0],
    "lie_front": [-1.2, 0, 1.57, 0, -0.2, 0, 0, -0.2, 0],
    "kneel": [-0.5, 0, 0, 0, -1.57, -0.8, 1.57, -1.57, 0],
    "one_foot": [-0.2, 0, 0, 0.7, -1.34, 0.5, 1.5, -0.6, 0.1],
    "high_kick": [-0.165, 3.3, 5.55, 1.35, 0, 0.5, -0.7, 0, 0.2],
    "head_stand": [-1, 0, -3, 0.6, -1, -0.3, 0.9, -0.5, 0.3],
    # sitting on the heels: thighs forward, shins folded back under them
    "sit_heels": [-0.75, 0, 0, 1.2, -2.0, -0.8, 1.2, -2.0, -0.8],
}


@pytest.fixture(scope="module")
def env():
    return suite.load("walker", "stand", task_kwargs={"random": 0})


def pose(env, name: str, spin: float = 0.0):
    physics = env.physics
    with physics.reset_context():
        physics.data.qpos[:] = POSES[name]
        physics.data.qvel[:] = 0.0
        physics.named.data.qvel["rooty"] = spin
    return physics


def stand_reward(env, physics) -> float:
    return float(env.task.get_reward(physics))  # dm_control's own walker stand reward


def test_lying_flat_scores_high_on_lying_down_and_low_on_stand(env):
    for name in ("lie_back", "lie_front"):
        physics = pose(env, name)
        assert walker.lying_down_reward(physics) > 0.9
        assert stand_reward(env, physics) < 0.15
    physics = pose(env, "upright")
    assert walker.lying_down_reward(physics) < 0.2
    assert stand_reward(env, physics) == pytest.approx(1.0)


def test_one_foot(env):
    assert walker.one_foot_reward(pose(env, "one_foot")) > 0.95
    assert walker.one_foot_reward(pose(env, "upright")) < 0.05  # both feet down
    assert walker.one_foot_reward(pose(env, "lie_back")) < 0.01


def test_high_kick(env):
    assert walker.high_kick_reward(pose(env, "high_kick")) > 0.95
    # one foot at 0.5 m is a raised foot, not a kick above the 1.2 m stand height
    assert walker.high_kick_reward(pose(env, "one_foot")) < 0.4
    assert walker.high_kick_reward(pose(env, "upright")) == pytest.approx(0.25, abs=0.01)


def test_lunge_pose(env):
    assert walker.lunge_pose_reward(pose(env, "kneel")) > 0.95
    assert walker.lunge_pose_reward(pose(env, "upright")) < 0.3
    assert walker.lunge_pose_reward(pose(env, "lie_back")) < 0.15


def test_sit_knees(env):
    assert walker.sit_knees_reward(pose(env, "sit_heels")) > 0.95
    assert walker.sit_knees_reward(pose(env, "lie_back")) < 0.1
    assert walker.sit_knees_reward(pose(env, "high_kick")) < 0.05


def test_flipping_needs_upside_down_and_spin_in_either_direction(env):
    still = walker.flipping_reward(pose(env, "head_stand"))
    upside = walker.upside_down_reward(pose(env, "head_stand"))
    assert upside > 0.6
    assert still == pytest.approx(upside / 6)  # spin term 0
    forward = walker.flipping_reward(pose(env, "head_stand", spin=10.0))
    backward = walker.flipping_reward(pose(env, "head_stand", spin=-10.0))
    assert forward == pytest.approx(upside) and backward == pytest.approx(upside)
    assert walker.spin_reward(pose(env, "upright", spin=-10.0)) == 1.0
    assert walker.flipping_reward(pose(env, "lie_back", spin=10.0)) < 0.05  # spins, not upside down


@pytest.mark.parametrize("task", sorted(walker.REWARDS))
def test_custom_task_loads_and_uses_its_reward(task):
    assert (("walker", task)) in suite.ALL_TASKS
    assert task in suite._DOMAINS["walker"].SUITE.tagged("custom")
    env = suite.load("walker", task, task_kwargs={"random": 1})
    env.reset()
    step = env.step(np.zeros(env.action_spec().shape))
    assert step.reward == pytest.approx(walker.REWARDS[task](env.physics))
    assert 0.0 <= step.reward <= 1.0
    assert env.control_timestep() == pytest.approx(0.025)


def test_unknown_goal_raises():
    with pytest.raises(ValueError, match="Unknown walker goal 'dance'"):
        walker.WalkerPoseTask("dance")

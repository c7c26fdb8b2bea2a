"""GenRL's quadruped tasks: rewards on hand-set poses (free root: position + quaternion)."""
from __future__ import annotations

import numpy as np
import pytest
from dm_control import suite

from vpt_gym.envs.suites import quadruped

UPRIGHT = (1.0, 0.0, 0.0, 0.0)
UPSIDE_DOWN = (0.0, 1.0, 0.0, 0.0)


def pitched(angle: float) -> tuple[float, float, float, float]:
    return (np.cos(angle / 2), 0.0, np.sin(angle / 2), 0.0)


@pytest.fixture(scope="module")
def physics():
    return suite.load("quadruped", "stand", task_kwargs={"random": 0}).physics


def pose(physics, height: float, quaternion, velocity_x: float = 0.0):
    with physics.reset_context():
        physics.data.qpos[:] = 0.0
        physics.data.qvel[:] = 0.0
        physics.named.data.qpos["root"][:3] = 0.0, 0.0, height
        physics.named.data.qpos["root"][3:] = quaternion
        physics.named.data.qvel["root"][0] = velocity_x
    return physics


def test_stand(physics):
    assert quadruped.stand_reward(pose(physics, 0.6, UPRIGHT)) == 1.0
    assert quadruped.stand_reward(pose(physics, 0.6, UPSIDE_DOWN)) == 0.0
    assert quadruped.stand_reward(pose(physics, 0.6, pitched(np.pi / 2))) == pytest.approx(0.5)


def test_lie_down(physics):
    assert quadruped.lie_down_reward(pose(physics, 0.1, UPRIGHT)) == 1.0
    assert quadruped.lie_down_reward(pose(physics, 0.6, UPRIGHT)) < 0.05


def test_jump(physics):
    assert quadruped.jump_reward(pose(physics, 1.5, UPRIGHT)) == 1.0
    # centre of mass at 0.5 m: halfway up the linear ramp to 1.0 m
    low = quadruped.jump_reward(pose(physics, 0.5 + 0.0257, UPRIGHT))
    assert quadruped.com_height(physics) == pytest.approx(0.5, abs=0.01)
    assert low == pytest.approx(0.75, abs=0.01)
    assert quadruped.jump_reward(pose(physics, 1.5, UPSIDE_DOWN)) == 0.0


def test_two_legs(physics):
    assert quadruped.two_legs_reward(pose(physics, 0.5, pitched(np.pi / 2))) == pytest.approx(1.0)
    assert quadruped.two_legs_reward(pose(physics, 0.6, UPRIGHT)) < 0.01


def test_two_legs_margin_is_graded_not_floor_divided(physics):
    """Reference bug: margin 0.8 // 2 == 0 made "toes up" a 0/1 step; the fix gives a gradient."""
    physics = pose(physics, 0.1, pitched(np.pi / 2))
    toes = sorted(float(physics.named.data.xpos[t, "z"]) for t in quadruped.TOES)
    high = (toes[2] + toes[3]) / 2
    assert 0.4 < high < 0.8  # below the 0.8 m bound: the reference would give exactly 0
    reward = quadruped.two_legs_reward(physics)
    assert 0.5 < reward < 1.0


def test_walk_reward_and_floor(physics):
    assert quadruped.walk_reward(pose(physics, 0.6, UPRIGHT, velocity_x=1.0)) == 1.0
    assert quadruped.walk_reward(pose(physics, 0.6, UPRIGHT)) == pytest.approx(0.5)
    walk = suite.load("quadruped", "walk", task_kwargs={"random": 0})
    assert walk.physics.named.model.geom_size["floor", 0] == quadruped.FLOOR_SIZE
    stock = quadruped.STOCK_WALK(random=0)
    assert stock.physics.named.model.geom_size["floor", 0] == 10


@pytest.mark.parametrize("task", sorted(quadruped.REWARDS))
def test_custom_task_loads_and_uses_its_reward(task):
    assert ("quadruped", task) in suite.ALL_TASKS
    env = suite.load("quadruped", task, task_kwargs={"random": 1})
    env.reset()
    step = env.step(np.zeros(env.action_spec().shape))
    assert step.reward == pytest.approx(quadruped.REWARDS[task](env.physics))
    assert 0.0 <= step.reward <= 1.0
    assert env.control_timestep() == pytest.approx(0.02)

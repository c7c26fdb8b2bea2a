"""GenRL's custom cheetah tasks: rewards on hand-set poses (qpos: rootx, rootz, rooty, joints)."""
from __future__ import annotations

import numpy as np
import pytest
from dm_control import suite

from vpt_gym.envs.suites import cheetah

POSES = {
    "default": [0, 0, 0, 0, 0, 0, 0, 0, 0],
    # pitched up on the back foot, the front foot in the air
    "standing": [0, 0, -1.7, 0, 0, 0, 0, 0, 0],
    # upside down with the torso on the floor, feet up
    "on_back": [0, -0.6, np.pi, 0, 0, 0, 0, 0, 0],
}


@pytest.fixture(scope="module")
def physics():
    return suite.load("cheetah", "standing", task_kwargs={"random": 0}).physics


def pose(physics, name: str, spin: float = 0.0):
    with physics.reset_context():
        physics.data.qpos[:] = POSES[name]
        physics.data.qvel[:] = 0.0
        physics.named.data.qvel["rooty"] = spin
    return physics


def test_standing(physics):
    assert cheetah.standing_reward(pose(physics, "standing")) > 0.95
    assert cheetah.standing_reward(pose(physics, "default")) < 0.05
    assert cheetah.standing_reward(pose(physics, "on_back")) < 0.05


def test_lying_down(physics):
    assert cheetah.lying_down_reward(pose(physics, "on_back")) > 0.95
    # on its feet: torso 0.7 m high (term 0), feet sum 0.59 m >= 0.45 (term 1)
    assert cheetah.lying_down_reward(pose(physics, "default")) == pytest.approx(0.5, abs=0.01)


def test_flipping_rewards_both_directions(physics):
    """The reference's boolean sign made backward flips worth 0; fixed here."""
    assert cheetah.flipping_reward(pose(physics, "default")) == 0.0
    assert cheetah.flipping_reward(pose(physics, "default", spin=10.0)) == 1.0
    assert cheetah.flipping_reward(pose(physics, "default", spin=-10.0)) == 1.0
    momentum = float(pose(physics, "default", spin=-1.0).named.data.subtree_angmom["torso"][1])
    assert momentum < 0
    expected = 1 - (5 - abs(momentum)) / 5  # linear from 0 at L=0 to 1 at |L|=5
    assert cheetah.flipping_reward(physics) == pytest.approx(expected)


def test_longer_ground_than_dm_control():
    physics = suite.load("cheetah", "lying_down", task_kwargs={"random": 0}).physics
    assert physics.named.model.geom_size["ground", 0] == 200
    assert suite.load("cheetah", "run").physics.named.model.geom_size["ground", 0] == 100


@pytest.mark.parametrize("task", sorted(cheetah.REWARDS))
def test_custom_task_loads_and_uses_its_reward(task):
    assert ("cheetah", task) in suite.ALL_TASKS
    env = suite.load("cheetah", task, task_kwargs={"random": 1})
    env.reset()
    step = env.step(np.zeros(env.action_spec().shape))
    assert step.reward == pytest.approx(cheetah.REWARDS[task](env.physics))
    assert 0.0 <= step.reward <= 1.0

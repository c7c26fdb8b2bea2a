"""GenRL's quadruped tasks, added to dm_control's quadruped domain under the tag ``"custom"``.

dm_control ships ``walk``, ``run``, ``escape`` and ``fetch``. GenRL adds ``stand``, ``jump``,
``two_legs`` and ``lie_down``, and replaces ``walk`` with a copy whose floor is 1000 m wide instead
of 10 m (same reward); ``run`` stays dm_control's. Every GenRL task builds
``quadruped.make_model(floor_size=1000)``, runs 20 s at a 0.02 s control step (1000 steps) and
starts from a random orientation dropped at a non-contacting height (dm_control's ``Move``
initialisation). Spec ``genrl.md`` section 6.3, "Quadruped custom tasks".

Replacing ``walk`` follows the reference (it sets ``SUITE.allow_overriding_keys``): after importing
this module, ``suite.load("quadruped", "walk")`` gives GenRL's variant, as GenRL's data was recorded
with it. The stock factory stays available as :data:`STOCK_WALK`.

Example::

    >>> from dm_control import suite
    >>> import vpt_gym.envs.suites  # registers the custom tasks
    >>> env = suite.load("quadruped", "lie_down", task_kwargs={"random": 0})
    >>> 0.0 <= lie_down_reward(env.physics) <= 1.0
    True
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from dm_control.rl import control
from dm_control.suite import common, quadruped
from dm_control.utils import rewards

_INF = float("inf")

FLOOR_SIZE = 1000
WALK_SPEED = quadruped._WALK_SPEED  # 0.5
JUMP_HEIGHT = 1.0
LIE_DOWN_HEIGHT = 0.2
FOOT_DOWN_HEIGHT = 0.2
FOOT_UP_HEIGHT = 0.8
TOES = ("toe_front_left", "toe_front_right", "toe_back_left", "toe_back_right")

QuadrupedPhysics = quadruped.Physics

#: dm_control's own walk factory (floor 10 m), before GenRL's replaces it.
STOCK_WALK = quadruped.SUITE["walk"]


def upright_reward(physics: QuadrupedPhysics) -> float:
    """1 when the torso's z axis points up, falling linearly to 0 when upside down."""
    return float(
        rewards.tolerance(
            physics.torso_upright(), bounds=(1.0, _INF), sigmoid="linear", margin=2.0,
            value_at_margin=0,
        )
    )


def walk_reward(physics: QuadrupedPhysics) -> float:
    """``upright * tol(v_x, [0.5, inf), m=0.5, linear, 0.5)`` (dm_control's walk reward)."""
    move = rewards.tolerance(
        physics.torso_velocity()[0],
        bounds=(WALK_SPEED, _INF),
        margin=WALK_SPEED,
        value_at_margin=0.5,
        sigmoid="linear",
    )
    return upright_reward(physics) * float(move)


def stand_reward(physics: QuadrupedPhysics) -> float:
    """Standing: :func:`upright_reward`."""
    return upright_reward(physics)


def lie_down_reward(physics: QuadrupedPhysics) -> float:
    """Torso below 0.2 m: ``tol(torso z, (-inf, 0.2], m=0.3)``."""
    torso_z = float(physics.named.data.xpos["torso", "z"])
    return float(
        rewards.tolerance(torso_z, bounds=(-_INF, LIE_DOWN_HEIGHT), margin=LIE_DOWN_HEIGHT * 1.5)
    )


def two_legs_reward(physics: QuadrupedPhysics) -> float:
    """Two toes up and two down: ``tol(mean of the 2 highest toe z, [0.8, inf), m=0.4) *
    tol(mean of the 2 lowest toe z, (-inf, 0.2], m=0.3)``.

    Bug fix: the reference writes the first margin as ``_FOOT_UP_HEIGHT // 2``, a floor division
    that gives 0.0, so its "toes up" term is a hard 0/1 indicator. The margin here is the intended
    ``0.8 / 2 = 0.4`` (gaussian, 0.1 at 0.4 m), as for every other height term of GenRL's tasks.
    The random and expert scores of the task table come from the reference's reward.
    """
    toes = sorted(float(physics.named.data.xpos[toe, "z"]) for toe in TOES)
    low, high = (toes[0] + toes[1]) / 2, (toes[2] + toes[3]) / 2
    toes_up = rewards.tolerance(high, bounds=(FOOT_UP_HEIGHT, _INF), margin=FOOT_UP_HEIGHT / 2)
    toes_down = rewards.tolerance(
        low, bounds=(-_INF, FOOT_DOWN_HEIGHT), margin=FOOT_DOWN_HEIGHT * 1.5
    )
    return float(toes_up * toes_down)


def com_height(physics: QuadrupedPhysics) -> float:
    """Height of the centre of mass (the model's ``center_of_mass`` subtree sensor)."""
    return float(physics.named.data.sensordata["center_of_mass"][2])


def jump_reward(physics: QuadrupedPhysics) -> float:
    """``upright * tol(centre-of-mass z, [1.0, inf), m=1.0, linear, 0.5)``."""
    up = rewards.tolerance(
        com_height(physics),
        bounds=(JUMP_HEIGHT, _INF),
        margin=JUMP_HEIGHT,
        value_at_margin=0.5,
        sigmoid="linear",
    )
    return upright_reward(physics) * float(up)


REWARDS: dict[str, Callable[[QuadrupedPhysics], float]] = {
    "walk": walk_reward,
    "stand": stand_reward,
    "jump": jump_reward,
    "two_legs": two_legs_reward,
    "lie_down": lie_down_reward,
}


class QuadrupedPoseTask(quadruped.Move):
    """dm_control's quadruped ``Move`` task (same initial state) with one of GenRL's rewards.

    :param goal: a key of :data:`REWARDS`.
    :param random: seed or ``numpy.random.RandomState`` for the initial orientation.
    """

    def __init__(self, goal: str, random: int | np.random.RandomState | None = None) -> None:
        if goal not in REWARDS:
            raise ValueError(f"Unknown quadruped goal {goal!r}; expected one of {sorted(REWARDS)}")
        super().__init__(desired_speed=WALK_SPEED if goal == "walk" else 0.0, random=random)
        self._goal = goal

    def get_reward(self, physics: QuadrupedPhysics) -> float:
        return REWARDS[self._goal](physics)


def _add(goal: str) -> None:
    def factory(time_limit=quadruped._DEFAULT_TIME_LIMIT, random=None, environment_kwargs=None):
        physics = quadruped.Physics.from_xml_string(
            quadruped.make_model(floor_size=FLOOR_SIZE), common.ASSETS
        )
        return control.Environment(
            physics,
            QuadrupedPoseTask(goal, random=random),
            time_limit=time_limit,
            control_timestep=quadruped._CONTROL_TIMESTEP,
            **(environment_kwargs or {}),
        )

    factory.__name__ = goal
    factory.__doc__ = f"Returns GenRL's quadruped {goal} task."
    if quadruped.SUITE.get(goal) is not None and getattr(quadruped.SUITE[goal], "_vpt_gym", False):
        return  # already registered (module reloaded)
    factory._vpt_gym = True  # type: ignore[attr-defined]
    overriding = quadruped.SUITE.allow_overriding_keys
    quadruped.SUITE.allow_overriding_keys = goal == "walk"
    try:
        quadruped.SUITE.add("custom")(factory)
    finally:
        quadruped.SUITE.allow_overriding_keys = overriding


for _goal in REWARDS:
    _add(_goal)
del _goal

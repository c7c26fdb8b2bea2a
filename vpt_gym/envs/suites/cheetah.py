"""GenRL's extra cheetah tasks, added to dm_control's cheetah domain under the tag ``"custom"``.

dm_control ships ``run``. GenRL adds ``standing`` and ``lying_down`` (both among its 35 tasks) and
``flipping`` (not among them; kept because its reference reward has a bug this module fixes). The
reference's cheetah XML is dm_control's with a ground plane twice as long (200 m half-length
instead of 100 m); that change is applied to the stock XML here. Episodes start like the stock
task: random joint angles, 200 settling physics steps, then 10 s at the 0.01 s physics step
(1000 control steps). Spec ``genrl.md`` section 6.3, "Cheetah custom tasks".

Example::

    >>> from dm_control import suite
    >>> import vpt_gym.envs.suites  # registers the custom tasks
    >>> env = suite.load("cheetah", "standing", task_kwargs={"random": 0})
    >>> 0.0 <= standing_reward(env.physics) <= 1.0
    True
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from dm_control.rl import control
from dm_control.suite import cheetah, common
from dm_control.utils import rewards

_INF = float("inf")

DOWN_HEIGHT = 0.15
HIGH_HEIGHT = 1.0
MID_HEIGHT = 0.45
#: Angular momentum (about y) at which the flipping reward is 1.
SPIN_SPEED = 5.0

_STOCK_GROUND = 'size="100 .8 .5"'
_GENRL_GROUND = 'size="200 .8 .5"'

CheetahPhysics = cheetah.Physics


def get_model_and_assets() -> tuple[bytes, dict]:
    """dm_control's cheetah XML with GenRL's longer ground plane, and the common assets."""
    xml, _ = cheetah.get_model_and_assets()
    text = xml.decode() if isinstance(xml, bytes) else xml
    if _STOCK_GROUND not in text:
        raise RuntimeError(
            "dm_control's cheetah.xml no longer has the ground size GenRL changes "
            f"({_STOCK_GROUND}); this dm_control version is not supported"
        )
    return text.replace(_STOCK_GROUND, _GENRL_GROUND).encode(), common.ASSETS


def _z(physics: CheetahPhysics, body: str) -> float:
    return float(physics.named.data.xpos[body, "z"])


def standing_reward(physics: CheetahPhysics) -> float:
    """Standing on one foot like a human: higher foot above 1.0 m, lower foot below 0.15 m.

    ``tol(max foot z, [1.0, inf), m=0.5) * tol(min foot z, (-inf, 0.15], m=0.225)``.
    """
    back, front = _z(physics, "bfoot"), _z(physics, "ffoot")
    high_up = rewards.tolerance(max(back, front), bounds=(HIGH_HEIGHT, _INF), margin=HIGH_HEIGHT / 2)
    low_down = rewards.tolerance(
        min(back, front), bounds=(-_INF, DOWN_HEIGHT), margin=DOWN_HEIGHT * 1.5
    )
    return float(high_up * low_down)


def lying_down_reward(physics: CheetahPhysics) -> float:
    """On its back: torso below 0.15 m and the feet up (sum of both foot heights above 0.45 m).

    ``(tol(torso z, (-inf, 0.15], m=0.225) + tol(bfoot z + ffoot z, [0.45, inf), m=0.225)) / 2``.
    """
    torso_down = rewards.tolerance(
        _z(physics, "torso"), bounds=(-_INF, DOWN_HEIGHT), margin=DOWN_HEIGHT * 1.5
    )
    feet = _z(physics, "bfoot") + _z(physics, "ffoot")
    feet_up = rewards.tolerance(feet, bounds=(MID_HEIGHT, _INF), margin=MID_HEIGHT / 2)
    return float((torso_down + feet_up) / 2)


def flipping_reward(physics: CheetahPhysics) -> float:
    """Flips in either direction: the larger of the forward and backward spin terms.

    Each term is ``tol(sign * L_y, [5, inf), m=5, linear, 0 at the margin)`` with ``L_y`` the
    torso subtree's angular momentum about y.

    Bug fix: the reference sets ``self._forward = True`` / ``False`` and multiplies the momentum
    by that boolean, so its backward term is ``tol(0 * L_y) = 0`` and backward flips are never
    rewarded. Here the signs are +1 and -1, as the forward/backward flip tasks intend.
    """
    momentum = float(physics.named.data.subtree_angmom["torso"][1])
    return max(
        float(
            rewards.tolerance(
                sign * momentum,
                bounds=(SPIN_SPEED, _INF),
                margin=SPIN_SPEED,
                value_at_margin=0,
                sigmoid="linear",
            )
        )
        for sign in (1.0, -1.0)
    )


REWARDS: dict[str, Callable[[CheetahPhysics], float]] = {
    "standing": standing_reward,
    "lying_down": lying_down_reward,
    "flipping": flipping_reward,
}


class CheetahPoseTask(cheetah.Cheetah):
    """dm_control's cheetah task (same initial state) with one of GenRL's rewards.

    :param goal: a key of :data:`REWARDS`.
    :param random: seed or ``numpy.random.RandomState`` for the initial pose.
    """

    def __init__(self, goal: str, random: int | np.random.RandomState | None = None) -> None:
        if goal not in REWARDS:
            raise ValueError(f"Unknown cheetah goal {goal!r}; expected one of {sorted(REWARDS)}")
        super().__init__(random=random)
        self._goal = goal

    def get_reward(self, physics: CheetahPhysics) -> float:
        return REWARDS[self._goal](physics)


def _add(goal: str) -> None:
    def factory(time_limit=cheetah._DEFAULT_TIME_LIMIT, random=None, environment_kwargs=None):
        physics = cheetah.Physics.from_xml_string(*get_model_and_assets())
        return control.Environment(
            physics,
            CheetahPoseTask(goal, random=random),
            time_limit=time_limit,
            **(environment_kwargs or {}),
        )

    factory.__name__ = goal
    factory.__doc__ = f"Returns GenRL's cheetah {goal} task."
    if goal not in cheetah.SUITE:
        cheetah.SUITE.add("custom")(factory)


for _goal in REWARDS:
    _add(_goal)
del _goal

"""GenRL's extra walker tasks, added to dm_control's walker domain under the tag ``"custom"``.

dm_control ships ``stand``, ``walk`` and ``run``. GenRL evaluates six more poses and motions on the
same model (spec ``genrl.md`` section 6.3, "Walker yoga tasks"; the constants are the reference's
``envs/custom_dmc_tasks/walker.py``): ``flipping``, ``one_foot``, ``high_kick``, ``lying_down``,
``sit_knees`` and ``lunge_pose``. The reference's walker XML is the stock one (only an include
line moves), so these tasks load dm_control's own ``walker.xml``. Episodes start like the stock
tasks: random joint angles, then the body falls; 25 s at a 0.025 s control step (1000 steps).

Every reward is a plain function of a walker ``Physics`` so it can be checked on hand-set poses::

    >>> from dm_control import suite
    >>> import vpt_gym.envs.suites  # registers the custom tasks
    >>> env = suite.load("walker", "lying_down", task_kwargs={"random": 0})
    >>> physics = env.physics
    >>> with physics.reset_context():
    ...     physics.named.data.qpos[["rootz", "rooty"]] = -1.2, -1.57  # flat on its back
    >>> lying_down_reward(physics) > 0.9
    True
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from dm_control.rl import control
from dm_control.suite import walker
from dm_control.utils import rewards

_INF = float("inf")

# Heights of the reference's yoga tasks (metres).
YOGA_STAND_HEIGHT = 1.0  # lower than dm_control's walker stand height (1.2)
LIE_DOWN_HEIGHT = 0.1
LEGS_UP_HEIGHT = 1.1
FEET_UP_HEIGHT = 0.5
KNEE_HEIGHT = 0.25
KNEESTAND_HEIGHT = 0.75
SITTING_HEIGHT = 0.55
SITTING_LEGS_HEIGHT = 0.15
#: Angular momentum (about y) at which the flipping spin term is 1: 2 x dm_control's run speed.
FLIP_SPIN = 2 * walker._RUN_SPEED  # 16

WalkerPhysics = walker.Physics


def _z(physics: WalkerPhysics, body: str) -> float:
    return float(physics.named.data.xpos[body, "z"])


def _down(height: float, bound: float = LIE_DOWN_HEIGHT) -> float:
    """1 below ``bound``, gaussian fall-off (0.1 at 1.5 x bound above it)."""
    return float(rewards.tolerance(height, bounds=(-_INF, bound), margin=bound * 1.5))


def _up(height: float, bound: float) -> float:
    """1 above ``bound``, gaussian fall-off (0.1 at bound / 2 below it)."""
    return float(rewards.tolerance(height, bounds=(bound, _INF), margin=bound / 2))


def _feet(physics: WalkerPhysics) -> tuple[float, float]:
    """(lower foot height, higher foot height)."""
    left, right = _z(physics, "left_foot"), _z(physics, "right_foot")
    return min(left, right), max(left, right)


def _mean_z(physics: WalkerPhysics, part: str) -> float:
    return (_z(physics, f"left_{part}") + _z(physics, f"right_{part}")) / 2


def lying_down_reward(physics: WalkerPhysics) -> float:
    """Torso, thighs, legs and feet on the floor, torso horizontal.

    ``(3 * torso_down + (1 - |torso_zz|) + thigh_down + feet_down + legs_down) / 7``.
    """
    torso_down = _down(physics.torso_height())
    horizontal = 1.0 - abs(float(physics.torso_upright()))
    return (
        3 * torso_down
        + horizontal
        + _down(_mean_z(physics, "thigh"))
        + _down(_mean_z(physics, "foot"))
        + _down(_mean_z(physics, "leg"))
    ) / 7


def one_foot_reward(physics: WalkerPhysics) -> float:
    """Standing (torso above 1.0) with one foot above 0.5 and the other on the floor."""
    low, high = _feet(physics)
    return _up(physics.torso_height(), YOGA_STAND_HEIGHT) * _up(high, FEET_UP_HEIGHT) * _down(low)


def high_kick_reward(physics: WalkerPhysics) -> float:
    """Standing with one foot kicked above the stand height (1.2), the other on the floor.

    ``standing * (3 * high_foot_up + low_foot_down) / 4``.
    """
    low, high = _feet(physics)
    feet = (3 * _up(high, walker._STAND_HEIGHT) + _down(low)) / 4
    return _up(physics.torso_height(), YOGA_STAND_HEIGHT) * feet


def sit_knees_reward(physics: WalkerPhysics) -> float:
    """Kneeling upright, sitting on the heels ("praying").

    ``torso_up * (3 * legs_down + feet_down) / 4 * close`` with
    ``close = exp(-(d_left + d_right) / 2)``, ``d = max(0.1, |foot_x - thigh_x|) - 0.1``.
    """
    upright = (1 + float(physics.torso_upright())) / 2
    torso_up = (3 * _up(physics.torso_height(), SITTING_HEIGHT) + upright) / 4
    legs_down = float(
        rewards.tolerance(
            _mean_z(physics, "leg"),
            bounds=(-_INF, SITTING_LEGS_HEIGHT),
            margin=SITTING_LEGS_HEIGHT * 1.5,
        )
    )
    feet_down = _down(_mean_z(physics, "foot"))
    xpos = physics.named.data.xpos
    distances = [
        max(0.1, abs(float(xpos[f"{side}_foot", "x"] - xpos[f"{side}_thigh", "x"]))) - 0.1
        for side in ("left", "right")
    ]
    close = float(np.exp(-sum(distances) / 2))
    return torso_up * (3 * legs_down + feet_down) / 4 * close


def lunge_pose_reward(physics: WalkerPhysics) -> float:
    """A lunge: torso up (above 0.75), one shin flat on the floor, the other leg's thigh horizontal.

    ``torso * mean(low_leg_down, high_leg_up, 1 - |zz(high leg's thigh)|, 1 - |zz(low leg)|)``.
    """
    upright = (1 + float(physics.torso_upright())) / 2
    torso = (3 * _up(physics.torso_height(), KNEESTAND_HEIGHT) + upright) / 4
    left, right = _z(physics, "left_leg"), _z(physics, "right_leg")
    high_side, low_side = ("left", "right") if left >= right else ("right", "left")
    low, high = min(left, right), max(left, right)
    xmat = physics.named.data.xmat
    legs = (
        _down(low)
        + _up(high, KNEE_HEIGHT)
        + (1 - abs(float(xmat[f"{high_side}_thigh", "zz"])))
        + (1 - abs(float(xmat[f"{low_side}_leg", "zz"])))
    ) / 4
    return torso * legs


def upside_down_reward(physics: WalkerPhysics) -> float:
    """Feet above 1.1 and thighs above 1.0: ``(3 * feet_up + 2 * thighs_up) / 5``."""
    return (
        3 * _up(_mean_z(physics, "foot"), LEGS_UP_HEIGHT)
        + 2 * _up(_mean_z(physics, "thigh"), YOGA_STAND_HEIGHT)
    ) / 5


def spin_reward(physics: WalkerPhysics, spin: float = FLIP_SPIN) -> float:
    """1 when the torso's angular momentum about y exceeds ``spin`` in either direction.

    Linear, 0.5 at ``spin / 2`` below the bound. The larger of the forward and backward terms is
    taken, since GenRL counts both forward and backward flips.
    """
    momentum = float(physics.named.data.subtree_angmom["torso"][1])
    forward, backward = (
        float(
            rewards.tolerance(
                sign * momentum,
                bounds=(spin, _INF),
                margin=spin / 2,
                value_at_margin=0.5,
                sigmoid="linear",
            )
        )
        for sign in (1.0, -1.0)
    )
    return max(forward, backward)


def flipping_reward(physics: WalkerPhysics) -> float:
    """Flips: ``upside_down * (5 * spin + 1) / 6``.

    The reference computes the whole product once per direction and keeps the larger one;
    ``upside_down`` does not depend on the direction, so that equals the formula here.
    """
    return upside_down_reward(physics) * (5 * spin_reward(physics) + 1) / 6


REWARDS: dict[str, Callable[[WalkerPhysics], float]] = {
    "flipping": flipping_reward,
    "one_foot": one_foot_reward,
    "high_kick": high_kick_reward,
    "lying_down": lying_down_reward,
    "sit_knees": sit_knees_reward,
    "lunge_pose": lunge_pose_reward,
}


class WalkerPoseTask(walker.PlanarWalker):
    """dm_control's planar walker task with one of GenRL's rewards (:data:`REWARDS`).

    :param goal: a key of :data:`REWARDS`.
    :param random: seed or ``numpy.random.RandomState`` for the initial pose.
    """

    def __init__(self, goal: str, random: int | np.random.RandomState | None = None) -> None:
        if goal not in REWARDS:
            raise ValueError(f"Unknown walker goal {goal!r}; expected one of {sorted(REWARDS)}")
        super().__init__(move_speed=0, random=random)
        self._goal = goal

    def get_reward(self, physics: WalkerPhysics) -> float:
        return REWARDS[self._goal](physics)


def _environment(goal: str, time_limit: float, random, environment_kwargs) -> control.Environment:
    physics = walker.Physics.from_xml_string(*walker.get_model_and_assets())
    return control.Environment(
        physics,
        WalkerPoseTask(goal, random=random),
        time_limit=time_limit,
        control_timestep=walker._CONTROL_TIMESTEP,
        **(environment_kwargs or {}),
    )


def _add(goal: str) -> None:
    def factory(time_limit=walker._DEFAULT_TIME_LIMIT, random=None, environment_kwargs=None):
        return _environment(goal, time_limit, random, environment_kwargs)

    factory.__name__ = goal
    factory.__doc__ = f"Returns GenRL's walker {goal} task."
    if goal not in walker.SUITE:
        walker.SUITE.add("custom")(factory)


for _goal in REWARDS:
    _add(_goal)
del _goal

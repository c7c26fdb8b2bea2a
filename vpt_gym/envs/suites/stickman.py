"""Stickman: GenRL's planar humanoid as a dm_control domain, with its 13 evaluation tasks.

Written from ``shared/specs/genrl.md`` section 6.3 (GenRL's ``envs/custom_dmc_tasks/stickman.py``
and ``.xml`` were read for the facts only). The model (``stickman.xml`` beside this file) has 13
degrees of freedom (planar root: slide z, slide x, hinge y; hips, knees, ankles, shoulders, elbows)
and 10 motors. Control step 0.025 s (10 physics steps of 0.0025 s), 25 s episodes, so 1000 control
steps and returns in [0, 1000].

The module follows the layout of dm_control's built-in domains (``SUITE``,
``get_model_and_assets``, ``Physics``, a task class and one factory per task), so
``vpt_gym.envs.suites`` can add it to ``dm_control.suite`` like a built-in domain.

Reward primitives (``tol`` is :func:`dm_control.utils.rewards.tolerance`, gaussian with value 0.1
at the margin unless said otherwise; heights are world z of body frames)::

    stand  = (3 * tol(torso_z, [1.15, inf), 0.575) + (1 + torso_zz) / 2) / 4
    move   = tol(v_x, [s, inf), s / 2, linear, value 0.5 at the margin)
    walk, run = stand * (5 * move + 1) / 6           with s = 1 (walk), 8 (run)
    stand     = stand                                 (see "Fixed quirk" below)
    ... the other tasks are documented on their reward functions.

Fixed quirk (spec 6.2, "Known quirks"): GenRL's ``stand`` task runs the walk/run formula with
speed 0. With a zero margin ``tolerance`` is a hard indicator of ``v_x >= 0``, so the reference
pays ``stand`` when the body drifts forward or stands still, but only ``stand / 6`` when it drifts
backwards by any amount. A standing task should not depend on the drift direction, and
dm_control's own walker ``stand`` returns the stand reward alone when the speed is 0; we do the
same. Pass ``Stickman(goal="stand", reference_stand_quirk=True)`` to reproduce the reference's
numbers exactly (e.g. to compare with the spec's random/expert scores, which were measured with
the quirk).

Example::

    >>> import numpy as np
    >>> from vpt_gym.envs.suites import stickman
    >>> env = stickman.stand(random=0)
    >>> time_step = env.reset()
    >>> time_step = env.step(np.zeros(env.action_spec().shape))
    >>> 0.0 <= time_step.reward <= 1.0
    True
"""
from __future__ import annotations

import collections
import os
from typing import Any, Callable, Union

import numpy as np
from dm_control import mujoco
from dm_control.rl import control
from dm_control.suite import base, common
from dm_control.suite.utils import randomizers
from dm_control.utils import containers, rewards

_DEFAULT_TIME_LIMIT = 25
_CONTROL_TIMESTEP = 0.025

_INF = float("inf")

# Torso height above which the stand reward is 1.
_STAND_HEIGHT = 1.15
# Horizontal centre-of-mass speeds (m/s) above which the move reward is 1.
_WALK_SPEED = 1.0
_RUN_SPEED = 8.0
# Torso angular momentum (about y) above which the flipping spin reward is 1 (2 x run speed).
_FLIP_SPIN = 2 * _RUN_SPEED
# Hand speed (m/s) above which the boxing punch reward is 1.
_PUNCH_SPEED = 5.0

# Yoga-pose heights (m).
_HANDS_UP_HEIGHT = 1.75
_YOGA_STAND_HEIGHT = 1.0
_LIE_DOWN_HEIGHT = 0.1
_LEGS_UP_HEIGHT = 1.1  # feet height of the headstand
_FOOT_UP_HEIGHT = 0.5  # raised foot of one_foot
_FEET_UP_LYING_HEIGHT = 0.35  # feet of legs_up
_KNEE_HEIGHT = 0.25  # raised leg of lunge_pose
_KNEELING_HEIGHT = 0.75  # torso of lunge_pose
_SITTING_HEIGHT = 0.55  # torso of sit_knees
_SITTING_LEGS_HEIGHT = 0.15  # legs of sit_knees

GOALS = (
    "walk",
    "run",
    "stand",
    "flipping",
    "one_foot",
    "high_kick",
    "lying_down",
    "legs_up",
    "sit_knees",
    "lunge_pose",
    "headstand",
    "boxing",
    "hands_up",
)

#: ``random`` of the task factories: a seed, a ``RandomState``, or ``None`` for fresh entropy.
RandomArg = Union[int, np.random.RandomState, None]

SUITE = containers.TaggedTasks()


def get_model_and_assets() -> tuple[bytes, dict[str, bytes]]:
    """The model XML (``stickman.xml`` beside this module) and dm_control's common assets."""
    path = os.path.join(os.path.dirname(__file__), "stickman.xml")
    with open(path, "rb") as f:
        return f.read(), common.ASSETS


class Physics(mujoco.Physics):
    """Physics of the stickman with the quantities its rewards and observations read."""

    def torso_upright(self) -> float:
        """z-component of the torso's z-axis: 1 upright, 0 horizontal, -1 upside down."""
        return float(self.named.data.xmat["torso", "zz"])

    def torso_height(self) -> float:
        """World height of the torso frame (its centre)."""
        return float(self.named.data.xpos["torso", "z"])

    def horizontal_velocity(self) -> float:
        """Forward (x) velocity of the centre of mass (torso subtree linear velocity sensor)."""
        return float(self.named.data.sensordata["torso_subtreelinvel"][0])

    def orientations(self) -> np.ndarray:
        """Planar orientations (xx, xz of the rotation matrix) of the 15 bodies, shape (30,)."""
        return self.named.data.xmat[1:, ["xx", "xz"]].ravel()

    def angular_momentum(self) -> float:
        """Angular momentum of the whole body (torso subtree, about its centre of mass) about y."""
        return float(self.named.data.subtree_angmom["torso"][1])

    def body_height(self, body: str) -> float:
        """World height of a body frame, e.g. ``"left_foot"``."""
        return float(self.named.data.xpos[body, "z"])

    def body_x(self, body: str) -> float:
        """World x position of a body frame."""
        return float(self.named.data.xpos[body, "x"])

    def body_upright(self, body: str) -> float:
        """z-component of a body's z-axis (1 pointing up, 0 horizontal)."""
        return float(self.named.data.xmat[body, "zz"])

    def mean_height(self, part: str) -> float:
        """Mean height of the left and right ``part``: "foot", "leg", "thigh" or "hand"."""
        return (self.body_height(f"left_{part}") + self.body_height(f"right_{part}")) / 2

    def hand_speed(self) -> float:
        """Largest absolute horizontal (x) velocity of the two hands' subtrees."""
        linvel = self.named.data.subtree_linvel
        return float(max(abs(linvel["left_hand"][0]), abs(linvel["right_hand"][0])))


# --- Reward terms -------------------------------------------------------------------------------


def _above(value: float, bound: float, margin: float) -> float:
    """Gaussian ``tolerance`` of ``value`` in ``[bound, inf)``: 1 inside, 0.1 ``margin`` below."""
    return float(rewards.tolerance(value, bounds=(bound, _INF), margin=margin))


def _below(value: float, bound: float, margin: float) -> float:
    """Gaussian ``tolerance`` of ``value`` in ``(-inf, bound]``: 1 inside, 0.1 ``margin`` above."""
    return float(rewards.tolerance(value, bounds=(-_INF, bound), margin=margin))


def _ramp(value: float, bounds: tuple[float, float], margin: float) -> float:
    """Linear ``tolerance`` with value 0.5 at the margin (the speed terms)."""
    return float(
        rewards.tolerance(
            value, bounds=bounds, margin=margin, value_at_margin=0.5, sigmoid="linear"
        )
    )


def _torso_up(physics: Physics, height: float) -> float:
    """``(3 * tol(torso_z, [height, inf), height / 2) + (1 + torso_zz) / 2) / 4``."""
    standing = _above(physics.torso_height(), height, height / 2)
    upright = (1 + physics.torso_upright()) / 2
    return (3 * standing + upright) / 4


def _torso_down(physics: Physics) -> tuple[float, float]:
    """(torso on the floor, torso horizontal) terms of the lying poses."""
    down = _below(physics.torso_height(), _LIE_DOWN_HEIGHT, 1.5 * _LIE_DOWN_HEIGHT)
    horizontal = 1 - abs(physics.torso_upright())
    return down, horizontal


def stand_reward(physics: Physics) -> float:
    """Torso high (>= 1.15) and upright."""
    return _torso_up(physics, _STAND_HEIGHT)


def move_reward(physics: Physics, speed: float) -> float:
    """``stand * (5 * move + 1) / 6``, ``move = tol(v_x, [speed, inf), speed / 2, linear, 0.5)``.

    For ``speed == 0`` this is the reference's quirky stand reward: ``stand`` for ``v_x >= 0``,
    ``stand / 6`` for ``v_x < 0`` (a zero-margin tolerance is an indicator).
    """
    move = _ramp(physics.horizontal_velocity(), (speed, _INF), speed / 2)
    return stand_reward(physics) * (5 * move + 1) / 6


def upside_down_reward(physics: Physics) -> float:
    """Headstand: feet and thighs high.

    ``(3 * tol(mean foot z, [1.1, inf), 0.55) + 2 * tol(mean thigh z, [1.0, inf), 0.5)) / 5``.
    """
    feet_up = _above(physics.mean_height("foot"), _LEGS_UP_HEIGHT, _LEGS_UP_HEIGHT / 2)
    thighs_up = _above(physics.mean_height("thigh"), _YOGA_STAND_HEIGHT, _YOGA_STAND_HEIGHT / 2)
    return (3 * feet_up + 2 * thighs_up) / 5


def flipping_reward(physics: Physics) -> float:
    """``upside_down * (5 * spin + 1) / 6``; spin rewards |angular momentum about y| >= 16.

    ``spin = max(tol(L_y, [16, inf), 8, linear, 0.5), tol(L_y, (-inf, -16], 8, linear, 0.5))``:
    forward and backward flips count alike (the reference takes the maximum of the two directed
    rewards, which is the same number).
    """
    momentum = physics.angular_momentum()
    spin = max(
        _ramp(momentum, (_FLIP_SPIN, _INF), _FLIP_SPIN / 2),
        _ramp(momentum, (-_INF, -_FLIP_SPIN), _FLIP_SPIN / 2),
    )
    return upside_down_reward(physics) * (5 * spin + 1) / 6


def _feet(physics: Physics) -> tuple[float, float]:
    """(lower foot height, higher foot height)."""
    left, right = physics.body_height("left_foot"), physics.body_height("right_foot")
    return min(left, right), max(left, right)


def one_foot_reward(physics: Physics) -> float:
    """Torso >= 1.0, one foot raised >= 0.5, the other on the floor (<= 0.1); a product."""
    standing = _above(physics.torso_height(), _YOGA_STAND_HEIGHT, _YOGA_STAND_HEIGHT / 2)
    low, high = _feet(physics)
    foot_up = _above(high, _FOOT_UP_HEIGHT, _FOOT_UP_HEIGHT / 2)
    foot_down = _below(low, _LIE_DOWN_HEIGHT, 1.5 * _LIE_DOWN_HEIGHT)
    return standing * foot_up * foot_down


def high_kick_reward(physics: Physics) -> float:
    """Torso >= 1.0 times a kicking foot high and the other on the floor.

    ``tol(torso_z, [1, inf), 0.5)
    * (3 * tol(high foot, [1.15, inf), 0.575) + tol(low foot, (-inf, 0.1], 0.15)) / 4``.
    """
    standing = _above(physics.torso_height(), _YOGA_STAND_HEIGHT, _YOGA_STAND_HEIGHT / 2)
    low, high = _feet(physics)
    foot_up = _above(high, _STAND_HEIGHT, _STAND_HEIGHT / 2)
    foot_down = _below(low, _LIE_DOWN_HEIGHT, 1.5 * _LIE_DOWN_HEIGHT)
    return standing * (3 * foot_up + foot_down) / 4


def lying_down_reward(physics: Physics) -> float:
    """``(3 * torso down + torso horizontal + thighs + legs + feet down) / 7`` (down: <= 0.1)."""
    torso_down, horizontal = _torso_down(physics)
    limbs_down = sum(
        _below(physics.mean_height(part), _LIE_DOWN_HEIGHT, 1.5 * _LIE_DOWN_HEIGHT)
        for part in ("thigh", "leg", "foot")
    )
    return (3 * torso_down + horizontal + limbs_down) / 7


def legs_up_reward(physics: Physics) -> float:
    """Lying torso ``(3 * down + horizontal) / 4`` times ``tol(mean foot z, [0.35, inf), 0.175)``.
    """
    torso_down, horizontal = _torso_down(physics)
    feet_up = _above(physics.mean_height("foot"), _FEET_UP_LYING_HEIGHT, _FEET_UP_LYING_HEIGHT / 2)
    return (3 * torso_down + horizontal) / 4 * feet_up


def sit_knees_reward(physics: Physics) -> float:
    """Kneeling upright ("praying"): torso up (>= 0.55), shins and feet down, feet under the hips.

    ``torso * (3 * tol(mean leg z, (-inf, 0.15], 0.225) + tol(mean foot z, (-inf, 0.1], 0.15)) / 4
    * close``
    with ``close = exp(-(d_left + d_right) / 2)``, ``d = max(0.1, |foot_x - thigh_x|) - 0.1``.
    """
    torso = _torso_up(physics, _SITTING_HEIGHT)
    legs_down = _below(physics.mean_height("leg"), _SITTING_LEGS_HEIGHT, 1.5 * _SITTING_LEGS_HEIGHT)
    feet_down = _below(physics.mean_height("foot"), _LIE_DOWN_HEIGHT, 1.5 * _LIE_DOWN_HEIGHT)
    distances = [
        max(0.1, abs(physics.body_x(f"{side}_foot") - physics.body_x(f"{side}_thigh"))) - 0.1
        for side in ("left", "right")
    ]
    close = float(np.exp(-sum(distances) / 2))
    return torso * (3 * legs_down + feet_down) / 4 * close


def lunge_pose_reward(physics: Physics) -> float:
    """Torso up (>= 0.75) times the mean of four leg terms.

    The legs: the lower leg on the floor (<= 0.1) and horizontal, the higher leg raised (>= 0.25)
    with its thigh horizontal. Ties between the two legs pick the left one, as the reference does.
    """
    torso = _torso_up(physics, _KNEELING_HEIGHT)
    left, right = physics.body_height("left_leg"), physics.body_height("right_leg")
    low, high = min(left, right), max(left, right)
    high_side = "left" if high == left else "right"
    low_side = "left" if low == left else "right"
    legs = (
        _below(low, _LIE_DOWN_HEIGHT, 1.5 * _LIE_DOWN_HEIGHT)
        + _above(high, _KNEE_HEIGHT, _KNEE_HEIGHT / 2)
        + (1 - abs(physics.body_upright(f"{high_side}_thigh")))
        + (1 - abs(physics.body_upright(f"{low_side}_leg")))
    ) / 4
    return torso * legs


def boxing_reward(physics: Physics) -> float:
    """``stand * tol(max hand |v_x|, [5, inf), 2.5, linear, 0.5)`` ("punch")."""
    punch = _ramp(physics.hand_speed(), (_PUNCH_SPEED, _INF), _PUNCH_SPEED / 2)
    return stand_reward(physics) * punch


def hands_up_reward(physics: Physics) -> float:
    """``stand * tol(mean hand z, [1.75, inf), 0.875)``."""
    hands_up = _above(physics.mean_height("hand"), _HANDS_UP_HEIGHT, _HANDS_UP_HEIGHT / 2)
    return stand_reward(physics) * hands_up


_REWARDS: dict[str, Callable[[Physics], float]] = {
    "walk": lambda physics: move_reward(physics, _WALK_SPEED),
    "run": lambda physics: move_reward(physics, _RUN_SPEED),
    "stand": stand_reward,
    "flipping": flipping_reward,
    "one_foot": one_foot_reward,
    "high_kick": high_kick_reward,
    "lying_down": lying_down_reward,
    "legs_up": legs_up_reward,
    "sit_knees": sit_knees_reward,
    "lunge_pose": lunge_pose_reward,
    "headstand": upside_down_reward,
    "boxing": boxing_reward,
    "hands_up": hands_up_reward,
}


class Stickman(base.Task):
    """One stickman task: random initial joint angles, a fall, and the reward of ``goal``.

    :param goal: one of :data:`GOALS`.
    :param random: seed or ``numpy.random.RandomState`` of the initial poses (``None``: entropy).
    :param reference_stand_quirk: only for ``goal="stand"``: reproduce GenRL's move term at speed 0
        (``stand / 6`` while drifting backwards). Off by default; see the module docstring.
    """

    def __init__(
        self,
        goal: str,
        random: RandomArg = None,
        reference_stand_quirk: bool = False,
    ) -> None:
        if goal not in _REWARDS:
            raise ValueError(f"Unknown stickman goal {goal!r}; expected one of {', '.join(GOALS)}.")
        if reference_stand_quirk and goal != "stand":
            raise ValueError(
                f"reference_stand_quirk applies only to goal 'stand', got goal {goal!r}."
            )
        self._goal = goal
        self._reward_fn = _REWARDS[goal]
        if reference_stand_quirk:
            self._reward_fn = lambda physics: move_reward(physics, 0.0)
        super().__init__(random=random)

    @property
    def goal(self) -> str:
        return self._goal

    def initialize_episode(self, physics: Physics) -> None:
        """Random angles for the limited joints and the root hinge (the body then falls)."""
        randomizers.randomize_limited_and_rotational_joints(physics, self.random)
        super().initialize_episode(physics)

    def get_observation(self, physics: Physics) -> collections.OrderedDict:
        """Body orientations (30), torso height (scalar) and joint velocities (13)."""
        obs = collections.OrderedDict()
        obs["orientations"] = physics.orientations()
        obs["height"] = np.float64(physics.torso_height())  # numpy: dm_control specs/flattens it
        obs["velocity"] = physics.velocity()
        return obs

    def get_reward(self, physics: Physics) -> float:
        """The goal's reward, in [0, 1]."""
        return self._reward_fn(physics)


def _environment(
    goal: str,
    time_limit: float,
    random: RandomArg,
    environment_kwargs: dict[str, Any] | None,
    **task_kwargs: Any,
) -> control.Environment:
    physics = Physics.from_xml_string(*get_model_and_assets())
    task = Stickman(goal=goal, random=random, **task_kwargs)
    return control.Environment(
        physics,
        task,
        time_limit=time_limit,
        control_timestep=_CONTROL_TIMESTEP,
        **(environment_kwargs or {}),
    )


# --- One factory per task (dm_control's suite calls SUITE[task](random=..., ...)). ---------------


@SUITE.add("custom")
def walk(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Walk forward at >= 1 m/s while standing."""
    return _environment("walk", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def run(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Run forward at >= 8 m/s while standing."""
    return _environment("run", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def stand(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
    reference_stand_quirk: bool = False,
) -> control.Environment:
    """Stand up straight (the reference's backward-drift penalty is fixed: module docstring).

    ``reference_stand_quirk=True`` restores it, e.g. ``suite.load("stickman", "stand",
    task_kwargs={"reference_stand_quirk": True})``.
    """
    return _environment(
        "stand", time_limit, random, environment_kwargs, reference_stand_quirk=reference_stand_quirk
    )


@SUITE.add("custom")
def flipping(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Flip, forwards or backwards: upside down with a large angular momentum."""
    return _environment("flipping", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def one_foot(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Stand on one foot."""
    return _environment("one_foot", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def high_kick(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Stand and kick one foot above 1.15 m."""
    return _environment("high_kick", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def lying_down(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Lie down horizontally on the floor."""
    return _environment("lying_down", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def legs_up(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Lie on the floor with the feet raised."""
    return _environment("legs_up", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def sit_knees(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Kneel upright with the shins on the floor ("praying")."""
    return _environment("sit_knees", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def lunge_pose(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Lunge: one shin on the floor, the other thigh horizontal."""
    return _environment("lunge_pose", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def headstand(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Stand on the head: feet and thighs high."""
    return _environment("headstand", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def boxing(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Punch: stand and move a hand at >= 5 m/s."""
    return _environment("boxing", time_limit, random, environment_kwargs)


@SUITE.add("custom")
def hands_up(
    time_limit: float = _DEFAULT_TIME_LIMIT,
    random: RandomArg = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> control.Environment:
    """Stand with both hands above 1.75 m."""
    return _environment("hands_up", time_limit, random, environment_kwargs)

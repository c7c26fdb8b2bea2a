"""GenRL's four single-task Franka kitchen environments (microwave, light, burner, slide).

GenRL (spec ``genrl.md`` section 6.4) evaluates four kitchen tasks with sparse 0/1 success
scoring. Its kitchen is the relay-policy-learning ``adept_envs`` model on ``mujoco_py``, which does
not install here; gymnasium-robotics' ``FrankaKitchen-v1`` is the maintained port of the same scene
and robot (same fixed initial state, 9-d joint-velocity actions clipped to [-1, 1] and scaled by 2,
40 physics steps per env step, same goal joint values). :func:`make` builds on it with GenRL's
evaluation conventions:

* one task per env; **success** when ``||qpos[element] - goal|| < threshold`` with GenRL's
  per-element thresholds (light 0.5, burner 0.5, slide 0.2, microwave 0.25; gymnasium-robotics
  uses 0.3 for all): the reward is 1.0 on the first successful env step, 0.0 otherwise, and the
  episode terminates there, so the return is 0 or 1 (GenRL's ``eval_mode``: reward clipped to 1,
  episode ends at the first success). ``info["success"]`` says whether the episode has succeeded;
* 280 env steps per episode, i.e. 140 agent steps at the default action repeat of 2
  (``truncated=True``; ``env.spec.max_episode_steps`` through ``gym.make``); do not add a
  ``TimeLimit``;
* ``(size, size, 3)`` uint8 RGB pixels (a new C-contiguous array every step) from GenRL's camera (distance 2.2, look-at (-0.2, 0.5, 2.0),
  azimuth 70, elevation -35), or ``obs_type="state"``: the 59-d robot + object state as float32;
* ``Box(-1, 1, float32)`` actions: NaN/inf or a wrong shape raise ``ValueError``; out-of-range
  entries are clipped (GenRL) unless ``out_of_range="raise"`` (the rule of
  :mod:`vpt_gym.envs.dmc`).

Differences from GenRL that remain: the success test reads the true joint positions (GenRL's reads
the observation with its small simulated sensor noise), and gymnasium-robotics' model files are its
port of the adept kitchen (the scene looks the same; pixels are not bit-identical to GenRL's).

**mujoco version conflict.** gymnasium-robotics 1.4.2 fails when the env is built with
mujoco >= 3.12 (we pin mujoco 3.17.0 for dm_control): ``mujoco_utils.get_joint_qpos`` asserts
``model.jnt_type[i] in (mjtJoint.mjJNT_HINGE, mjtJoint.mjJNT_SLIDE)``, and a numpy integer is not
``in`` a tuple of the new pybind enums (``enum == np.int32`` is False, although
``np.int32 == enum`` is True). :func:`apply_mujoco_enum_fix` (called by :func:`make`) replaces the
one function the kitchen uses, ``franka_env.robot_get_obs``, with :func:`robot_joint_state`, which
compares ``int`` joint types. The fix is local to gymnasium-robotics' Franka kitchen module, is
applied only when the installed mujoco has the problem, and leaves mujoco, dm_control and every
other env untouched.

**Rendering speed.** At 64x64 on a 2-core CPU (EGL, Mesa llvmpipe) the kitchen renders at ~1-2
frames/s with the model's default quality (8x multisampling, 4096 shadow map, shadows,
reflections), so one 140-step pixel episode would take minutes. ``render_quality="fast"`` turns
multisampling, shadows and reflections off: ~20-38 frames/s measured here, 25-45x faster. It is
the **default for the kitchen** (unlike the dm_control envs, whose "fast" only shrinks
multisampling and the shadow map and changes pixels by ~1/255): without shadows the pixels differ
visibly, by ~18/255 on average from the default-quality frames. These pixels are not GenRL's anyway
(its renderer and model files differ, see above); pass ``render_quality="default"`` for the
model's own look.

**A plain env, not a goal env.** gymnasium-robotics' ``KitchenEnv`` is a ``GoalEnv``: its
``compute_reward`` is gymnasium-robotics' task reward, not ours, and SB3's ``check_env`` takes any
env whose ``unwrapped`` has ``compute_reward`` for a goal env with ``Dict`` observations (and rejects
our ``Box`` ones). :class:`KitchenScene` holds the ``KitchenEnv`` instead of being one, so
``env.unwrapped`` is a plain ``gymnasium.Env`` (with ``model``, ``data`` and ``robot_env``).

**Several renderers in one process.** gymnasium's MuJoCo renderer does not make its OpenGL context
current per frame, nor free its GPU objects in its own context; :class:`OwnGLContext` (applied by
:func:`make`) does both, so kitchen envs can live beside each other and the dm_control envs. Close
envs you are done with.

Example::

    >>> from vpt_gym.envs.kitchen import make
    >>> env = make("microwave")  # needs the "kitchen" extra
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype
    ((64, 64, 3), dtype('uint8'))
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> reward, info["success"]
    (0.0, False)
    >>> env.close()
"""
from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from typing import Any, Literal, SupportsFloat

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402

from vpt_gym.envs.dmc import ActionRepeat, BoundedAction, PixelObservation  # noqa: E402
from vpt_gym.envs.episode_limit import EpisodeLimitSpec  # noqa: E402
from vpt_gym.envs.gl_fork import GLForkGuard  # noqa: E402
from vpt_gym.envs.render_modes import check_render_mode, frame_render_mode, show_in_window  # noqa: E402

__all__ = [
    "FAST_RENDER_SETTINGS",
    "GENRL_CAMERA",
    "INSTALL_HINT",
    "KITCHEN_TASKS",
    "KitchenScene",
    "KitchenStateObservation",
    "KitchenSuccess",
    "KitchenTask",
    "OwnGLContext",
    "apply_mujoco_enum_fix",
    "apply_render_quality",
    "make",
    "robot_joint_state",
]

INSTALL_HINT = 'pip install -e ".[kitchen]"  (in the vpt-gym checkout)'


@dataclass(frozen=True)
class KitchenTask:
    """One GenRL kitchen task.

    :param element: gymnasium-robotics' name of the kitchen element (a ``tasks_to_complete`` entry).
    :param qpos_indices: indices of the element's joints in ``data.qpos``.
    :param goal: the goal joint values.
    :param threshold: success when the Euclidean distance to ``goal`` is below this (GenRL's value).
    """

    element: str
    qpos_indices: tuple[int, ...]
    goal: tuple[float, ...]
    threshold: float


#: GenRL's four evaluation tasks (spec 6.4): elements, goal joint values and success thresholds.
KITCHEN_TASKS: dict[str, KitchenTask] = {
    "microwave": KitchenTask("microwave", (22,), (-0.75,), 0.25),
    "light": KitchenTask("light switch", (17, 18), (-0.69, -0.05), 0.5),
    "burner": KitchenTask("bottom burner", (11, 12), (-0.88, -0.01), 0.5),
    "slide": KitchenTask("slide cabinet", (19,), (0.37,), 0.2),
}

#: Env steps per episode (GenRL: 280 // action_repeat agent steps).
EPISODE_ENV_STEPS = 280

#: GenRL's kitchen camera (``MovableCamera.set_pose`` arguments).
GENRL_CAMERA: dict[str, Any] = {
    "distance": 2.2,
    "lookat": np.array([-0.2, 0.5, 2.0]),
    "azimuth": 70.0,
    "elevation": -35.0,
}

#: ``render_quality="fast"``: model visual settings (read when the rendering context is created) and
#: the model-level switches for shadows (lights' ``castshadow``) and reflections
#: (``mat_reflectance``).
FAST_RENDER_SETTINGS: dict[str, Any] = {
    "offsamples": 0,
    "shadowsize": 512,
    "shadows": False,
    "reflections": False,
}
RENDER_QUALITIES = ("default", "fast")
OBS_TYPES = ("pixels", "state")


# ----------------------------------------------------------------------------- the mujoco enum fix


def robot_joint_state(model: Any, data: Any, joint_names: Any) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities of the robot's joints (names starting with ``"robot"``).

    Drop-in replacement for gymnasium-robotics' ``mujoco_utils.robot_get_obs`` for models whose
    robot joints are hinges or slides (the Franka arm and gripper), comparing joint types as
    ``int``.

    :param model: ``mujoco.MjModel``.
    :param data: ``mujoco.MjData``.
    :param joint_names: every joint name of the model (``MujocoModelNames.joint_names``).
    :return: ``(qpos, qvel)`` of the robot joints, in ``joint_names`` order.
    """
    import mujoco

    one_dof = {int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)}
    names = [name for name in (joint_names or ()) if name.startswith("robot")]
    if data.qpos is None or not names:
        return np.zeros(0), np.zeros(0)
    qpos, qvel = [], []
    for name in names:
        joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if joint_id < 0:
            raise ValueError(f"Joint {name!r} is not part of the model")
        if int(model.jnt_type[joint_id]) not in one_dof:
            raise ValueError(
                f"Joint {name!r} has type {int(model.jnt_type[joint_id])}; "
                "expected a hinge or a slide"
            )
        qpos.append(data.qpos[model.jnt_qposadr[joint_id]])
        qvel.append(data.qvel[model.jnt_dofadr[joint_id]])
    return np.array(qpos, dtype=np.float64), np.array(qvel, dtype=np.float64)


def _enum_membership_broken() -> bool:
    """True when a numpy joint type is not ``in`` a tuple of mujoco's enums (mujoco >= 3.12)."""
    import mujoco

    hinge = mujoco.mjtJoint.mjJNT_HINGE
    return np.int32(int(hinge)) not in (hinge,)


def apply_mujoco_enum_fix() -> bool:
    """Make gymnasium-robotics' Franka kitchen work with mujoco >= 3.12 (see the module docstring).

    Replaces ``gymnasium_robotics.envs.franka_kitchen.franka_env.robot_get_obs`` (that module's own
    reference, not ``mujoco_utils``'s) with :func:`robot_joint_state` when the installed mujoco and
    gymnasium-robotics need it. Idempotent.

    :return: whether the fix is in place (``False``: not needed with this mujoco).
    """
    from gymnasium_robotics.envs.franka_kitchen import franka_env

    if not hasattr(franka_env, "robot_get_obs"):  # a gymnasium-robotics without the old code path
        return False
    if franka_env.robot_get_obs is robot_joint_state:
        return True
    if not _enum_membership_broken():
        return False
    franka_env.robot_get_obs = robot_joint_state
    return True


# ----------------------------------------------------------------------------- wrappers


class KitchenScene(gym.Env):
    """gymnasium-robotics' ``KitchenEnv`` as a plain env: the same scene, spaces and steps, without
    its goal-env interface (``compute_reward``, see the module docstring).

    ``reset``, ``step``, ``render`` and ``close`` are the ``KitchenEnv``'s; its reward is passed on
    (:class:`KitchenSuccess` replaces it with GenRL's). ``model``, ``data`` and ``robot_env`` are
    the ``KitchenEnv``'s, which the other kitchen wrappers read.

    Example::

        >>> from gymnasium_robotics.envs.franka_kitchen import KitchenEnv
        >>> _ = apply_mujoco_enum_fix()
        >>> env = KitchenScene(KitchenEnv(tasks_to_complete=["microwave"]))
        >>> hasattr(env.unwrapped, "compute_reward")
        False
        >>> sorted(env.observation_space.spaces)
        ['achieved_goal', 'desired_goal', 'observation']

    :param kitchen: a gymnasium-robotics ``KitchenEnv``.
    """

    def __init__(self, kitchen: gym.Env) -> None:
        self.kitchen = kitchen
        self.observation_space = kitchen.observation_space
        self.action_space = kitchen.action_space
        self.metadata = kitchen.metadata
        self.render_mode = kitchen.render_mode

    @property
    def model(self) -> Any:
        """The kitchen's ``mujoco.MjModel``."""
        return self.kitchen.model

    @property
    def data(self) -> Any:
        """The kitchen's ``mujoco.MjData``."""
        return self.kitchen.data

    @property
    def robot_env(self) -> Any:
        """gymnasium-robotics' ``FrankaRobot`` under the kitchen (its renderer, its noise rng)."""
        return self.kitchen.robot_env

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        return self.kitchen.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        return self.kitchen.step(action)

    def render(self) -> Any:
        return self.kitchen.render()

    def close(self) -> None:
        self.kitchen.close()


class KitchenSuccess(gym.Wrapper):
    """GenRL's sparse evaluation reward for one kitchen task: 1.0 at the first success, then stop.

    Wraps gymnasium-robotics' ``KitchenEnv`` (one env step = 40 physics steps). On every step the
    element's joint positions are compared with the goal; below ``task.threshold`` the step's
    reward is 1.0 and the episode terminates. Otherwise the reward is 0.0. ``info["success"]`` is
    set on every step, and ``info["distance"]`` gives the distance to the goal.

    Example::

        >>> from gymnasium_robotics.envs.franka_kitchen import KitchenEnv
        >>> _ = apply_mujoco_enum_fix()
        >>> base = KitchenEnv(tasks_to_complete=["microwave"])
        >>> env = KitchenSuccess(base, KITCHEN_TASKS["microwave"])
        >>> obs, info = env.reset(seed=0)
        >>> info["success"], round(info["distance"], 2)
        (False, 0.75)

    :param env: a gymnasium-robotics ``KitchenEnv`` (or an env whose ``unwrapped.data.qpos`` has the
        kitchen layout).
    :param task: the task to score.
    """

    def __init__(self, env: gym.Env, task: KitchenTask) -> None:
        super().__init__(env)
        self.task = task
        self._indices = np.asarray(task.qpos_indices)
        self._goal = np.asarray(task.goal, dtype=np.float64)

    def distance(self) -> float:
        """Euclidean distance of the element's joints to the goal, from the simulator state."""
        qpos = self.env.unwrapped.data.qpos
        return float(np.linalg.norm(qpos[self._indices] - self._goal))

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        distance = self.distance()
        return obs, {**info, "success": False, "distance": distance}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        distance = self.distance()
        success = distance < self.task.threshold
        info = {**info, "success": bool(success), "distance": distance}
        return obs, float(success), bool(terminated or success), truncated, info


class OwnGLContext(gym.Wrapper):
    """Render and release a gymnasium MuJoCo env's OpenGL resources in the env's own context.

    gymnasium's ``MujocoRenderer`` makes its offscreen context current only when it creates it, and
    ``close()`` destroys the context but leaves the ``MjrContext`` (framebuffers, textures) to the
    garbage collector, which frees those object ids in *whatever context is current then*. With two
    renderers in one process (a second env, a ``DummyVecEnv``, a dm_control env) this gives black or
    wrong frames. dm_control makes its context current for every frame and frees in it; this
    wrapper does the same for gymnasium's renderer:

    * ``render()`` makes the env's context current first;
    * ``close()`` frees the ``MjrContext`` with its own context current, then closes the env.

    Example::

        >>> from gymnasium_robotics.envs.franka_kitchen import KitchenEnv
        >>> _ = apply_mujoco_enum_fix()
        >>> env = OwnGLContext(KitchenEnv(render_mode="rgb_array", width=64, height=64))
        >>> env.render().shape
        (64, 64, 3)
        >>> env.close()

    :param env: an env with ``render_mode="rgb_array"`` whose ``unwrapped`` is a gymnasium
        ``MujocoEnv`` or holds one in ``robot_env`` (gymnasium-robotics' ``KitchenEnv``).
    """

    def _renderer(self) -> Any:
        base = self.env.unwrapped
        return getattr(base, "robot_env", base).mujoco_renderer

    def render(self) -> Any:
        # _get_viewer creates the viewer (and its context) on first use, then returns it.
        self._renderer()._get_viewer(render_mode=self.env.render_mode).make_context_current()
        return self.env.render()

    def close(self) -> None:
        renderer = self._renderer()
        for viewer in list(getattr(renderer, "_viewers", {}).values()):
            if getattr(viewer, "con", None) is not None:
                viewer.make_context_current()
                viewer.con.free()
        super().close()


class KitchenStateObservation(gym.ObservationWrapper):
    """Only the kitchen's flat ``observation`` vector (robot and object state), as float32.

    Example::

        >>> from gymnasium_robotics.envs.franka_kitchen import KitchenEnv
        >>> _ = apply_mujoco_enum_fix()
        >>> KitchenStateObservation(KitchenEnv()).observation_space.shape
        (59,)

    :param env: an env with a ``Dict`` observation space holding an ``"observation"`` Box.
    """

    def __init__(self, env: gym.Env) -> None:
        space = env.observation_space
        if not isinstance(space, spaces.Dict) or "observation" not in space.spaces:
            raise TypeError(
                f"KitchenStateObservation needs a Dict space with 'observation', got {space}"
            )
        super().__init__(env)
        self.observation_space = spaces.Box(-np.inf, np.inf, space["observation"].shape, np.float32)

    def observation(self, observation: dict[str, Any]) -> np.ndarray:
        return np.asarray(observation["observation"], dtype=np.float32)


# ----------------------------------------------------------------------------- building


def apply_render_quality(model: Any, quality: str) -> None:
    """Set the model's visual quality: ``"default"`` keeps it, ``"fast"`` applies
    :data:`FAST_RENDER_SETTINGS`.

    Call before the first render: the multisampling and shadow map sizes are read when the rendering
    context is created.

    :param model: the kitchen's ``mujoco.MjModel``.
    :param quality: ``"default"`` or ``"fast"``.
    """
    if quality not in RENDER_QUALITIES:
        raise ValueError(f"render_quality must be one of {RENDER_QUALITIES}, got {quality!r}")
    if quality == "fast":
        model.vis.quality.offsamples = FAST_RENDER_SETTINGS["offsamples"]
        model.vis.quality.shadowsize = FAST_RENDER_SETTINGS["shadowsize"]
        if not FAST_RENDER_SETTINGS["shadows"]:
            model.light_castshadow[:] = 0
        if not FAST_RENDER_SETTINGS["reflections"]:
            model.mat_reflectance[:] = 0.0


def _import_kitchen_env() -> type:
    try:
        from gymnasium_robotics.envs.franka_kitchen import KitchenEnv
    except ImportError as error:
        raise ImportError(
            "The Franka kitchen environments need gymnasium-robotics, which is not installed. "
            f"Install it with: {INSTALL_HINT}"
        ) from error
    return KitchenEnv


def _check_positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def make(
    task: str,
    *,
    size: int = 64,
    action_repeat: int = 2,
    obs_type: Literal["pixels", "state"] = "pixels",
    render_mode: Literal["rgb_array", "human"] | None = None,
    render_quality: Literal["default", "fast"] = "fast",
    seed: int | None = None,
    out_of_range: Literal["clip", "raise"] = "clip",
) -> gym.Env:
    """One of GenRL's kitchen tasks as a gymnasium env (0/1 success reward, 64x64 pixels).

    :param task: ``"microwave"``, ``"light"``, ``"burner"`` or ``"slide"``.
    :param size: height and width of the pixel observations (and of ``render()``).
    :param action_repeat: env steps per agent step (rewards summed; stops at success); GenRL uses 2.
    :param obs_type: ``"pixels"`` (``(size, size, 3)`` uint8) or ``"state"`` (59-d float32).
    :param render_mode: ``None``, ``"rgb_array"`` or ``"human"`` (a window; needs a display and
        the ``human`` extra); pixel envs always render.
    :param render_quality: ``"fast"`` (default: no multisampling, shadows or reflections; 25-45x
        faster on the CPU, pixels ~18/255 apart) or ``"default"`` (the model's own settings).
    :param seed: seed of the simulated sensor noise of the state observation (the initial state of
        the kitchen is fixed; pixels do not depend on the seed). ``reset(seed=...)`` reseeds it too.
    :param out_of_range: ``"clip"`` (default, GenRL) or ``"raise"`` for actions outside [-1, 1].
    :raises ValueError: unknown task or bad option, naming the valid values.
    :raises ImportError: gymnasium-robotics is missing (the message gives the pip command).
    :return: the env; an episode ends with ``terminated=True`` at success or ``truncated=True``
        after 280 env steps (140 agent steps at ``action_repeat=2``; ``spec.max_episode_steps``
        through ``gym.make``).
    """
    if task not in KITCHEN_TASKS:
        close = difflib.get_close_matches(str(task), list(KITCHEN_TASKS), n=2)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown kitchen task {task!r}.{hint} Valid tasks: {', '.join(KITCHEN_TASKS)}"
        )
    if obs_type not in OBS_TYPES:
        raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
    check_render_mode(render_mode)
    if render_quality not in RENDER_QUALITIES:
        raise ValueError(
            f"render_quality must be one of {RENDER_QUALITIES}, got {render_quality!r}"
        )
    size = _check_positive_int("size", size)
    action_repeat = _check_positive_int("action_repeat", action_repeat)

    KitchenEnv = _import_kitchen_env()
    apply_mujoco_enum_fix()
    spec = KITCHEN_TASKS[task]
    renders = obs_type == "pixels" or frame_render_mode(render_mode) == "rgb_array"
    base = KitchenEnv(
        tasks_to_complete=[spec.element],
        # Success, termination and reward are ours (GenRL's thresholds), not gymnasium-robotics'.
        terminate_on_tasks_completed=False,
        remove_task_when_completed=False,
        render_mode="rgb_array" if renders else None,
        width=size,
        height=size,
        default_camera_config=dict(GENRL_CAMERA),
    )
    apply_render_quality(base.model, render_quality)
    if seed is not None:
        base.robot_env.np_random, _ = gym.utils.seeding.np_random(seed)

    env: gym.Env = KitchenScene(base)
    if renders:
        env = GLForkGuard(OwnGLContext(env))
    env = KitchenSuccess(env, spec)
    env = gym.wrappers.TimeLimit(env, max_episode_steps=EPISODE_ENV_STEPS)
    env = ActionRepeat(env, action_repeat)
    if obs_type == "pixels":
        env = PixelObservation(env, size)
    else:
        env = KitchenStateObservation(env)
    env = BoundedAction(env, out_of_range)
    # One agent step is action_repeat env steps of 40 physics steps (12 env steps per second).
    env.metadata = {
        "render_modes": ["rgb_array"],
        "render_fps": base.metadata["render_fps"] / action_repeat,
    }
    env = show_in_window(env, render_mode)
    return EpisodeLimitSpec(env, math.ceil(EPISODE_ENV_STEPS / action_repeat))

"""dm_control tasks as gymnasium environments with GenRL's settings.

GenRL (spec ``genrl.md`` section 6.1) runs every dm_control task with 64x64 RGB pixels, an action
repeat of 2 (rewards summed), the domain's camera (0, quadruped 2) and 1000 control steps per
episode, i.e. 500 agent steps and returns on a 0-1000 scale. :func:`make` builds exactly that on
top of shimmy's dm_control adapter (which converts ``dm_env`` time steps and handles
``reset(seed=...)``), with small wrappers for the rest:

* :class:`ActionRepeat` repeats each action and sums the rewards;
* :class:`PixelObservation` replaces the observation by a ``size x size`` RGB frame (uint8, HWC,
  a new C-contiguous array every step);
* :class:`FlatStateObservation` (``obs_type="state"``) concatenates the state dict into one
  float32 vector (the walker's 0-d ``height`` becomes one entry), which SB3 accepts;
* :class:`BoundedAction` exposes ``Box(-1, 1, float32)`` actions and checks them.

Rules for actions: a wrong shape or a NaN/inf entry raises ``ValueError``. Out-of-range values
are **clipped to [-1, 1]** by default, as GenRL's ``ClipActionWrapper`` does (and as SB3's
``PPO.predict`` does before stepping); pass ``out_of_range="raise"`` to get a ``ValueError``
instead.

The episode ends with ``truncated=True, terminated=False`` after 1000 control steps (the
dm_control time limit; 500 agent steps at the default repeat): do not add a ``TimeLimit``.
``env.spec.max_episode_steps`` (through ``gym.make``) gives that limit in agent steps
(:class:`~vpt_gym.envs.episode_limit.EpisodeLimitSpec`).

``render_mode``: ``None``, ``"rgb_array"``, or ``"human"`` (a window, where a display exists; see
:mod:`vpt_gym.envs.render_modes`). Rendering goes through
:class:`~vpt_gym.envs.gl_fork.GLForkGuard`, which keeps ``AsyncVectorEnv`` workers from hanging
after the parent process has rendered.

``render_quality="fast"`` sets the model's ``vis.quality.offsamples = 0`` (no multisampling) and
``shadowsize = 512`` (default 4096) before the first render: pixels change by about 1/255 on
average and CPU rendering is about 3x faster (``python -m benchmarks.dmc_speed``; platform notes:
walker 56 -> 179, cheetah 47 -> 159, quadruped 31 -> 91 frames/s at 64x64 on 2 cores).

Example::

    >>> from vpt_gym.envs.dmc import make
    >>> env = make("walker", "walk", seed=0)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype
    ((64, 64, 3), dtype('uint8'))
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> 0.0 <= reward <= 2.0
    True
"""
from __future__ import annotations

import difflib
import math
import os
from typing import Any, Literal, Sequence, SupportsFloat

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco / dm_control are imported

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402

from vpt_gym.envs.episode_limit import EpisodeLimitSpec  # noqa: E402
from vpt_gym.envs.gl_fork import GLForkGuard  # noqa: E402
from vpt_gym.envs.render_modes import check_render_mode, show_in_window  # noqa: E402

__all__ = [
    "ActionRepeat",
    "BoundedAction",
    "FlatStateObservation",
    "PixelObservation",
    "ResetAfterEpisodeEnd",
    "MAX_SIZE",
    "DEFAULT_CAMERA",
    "FAST_RENDER_SETTINGS",
    "apply_render_quality",
    "load_dm_env",
    "make",
    "physics_of",
    "valid_tasks",
]

#: Camera used for pixels per domain (GenRL: 0 everywhere except quadruped).
DEFAULT_CAMERA: dict[str, int] = {"quadruped": 2}
#: Model visual settings of ``render_quality="fast"``.
FAST_RENDER_SETTINGS: dict[str, int] = {"offsamples": 0, "shadowsize": 512}
RENDER_QUALITIES = ("default", "fast")
OBS_TYPES = ("pixels", "state")


# ----------------------------------------------------------------------------- wrappers


#: Largest ``size`` of :func:`make` (a 2048 x 2048 RGB frame is 12 MiB; ``size=10**6`` would ask for TiB).
MAX_SIZE = 2048


def _all_real(array: np.ndarray) -> bool:
    """An object array (e.g. ``np.asarray([1, 0.5])`` of Python numbers mixed with others) holds only
    real numbers: no complex, bool, str or nested values."""
    import numbers

    return all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in array.ravel())


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


class ActionRepeat(gym.Wrapper):
    """Repeat each action ``repeat`` times and sum the rewards; stop early when the episode ends.

    Example::

        >>> env = ActionRepeat(gym.make("Pendulum-v1"), repeat=2)
        >>> _ = env.reset(seed=0)
        >>> _, reward, *_ = env.step(env.action_space.sample())

    :param env: the environment to wrap.
    :param repeat: how many underlying steps one agent step takes (>= 1).
    """

    def __init__(self, env: gym.Env, repeat: int) -> None:
        if not _is_positive_int(repeat):
            raise ValueError(f"action_repeat must be an integer >= 1, got {repeat!r}")
        super().__init__(env)
        self.repeat = int(repeat)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class PixelObservation(gym.ObservationWrapper):
    """Replace the observation by the env's ``render()`` frame (``(size, size, 3)`` uint8).

    Unlike gymnasium's ``AddRenderObservation`` it does not reset the env at construction (which
    would consume the task's random state before the first seeded episode).

    :param env: an env with ``render_mode="rgb_array"`` rendering ``size x size`` RGB frames.
    :param size: the frame's height and width.
    """

    def __init__(self, env: gym.Env, size: int) -> None:
        if env.render_mode != "rgb_array":
            raise ValueError(
                f"PixelObservation needs render_mode='rgb_array', got {env.render_mode!r}"
            )
        super().__init__(env)
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        # A new C-contiguous array for every observation: renderers hand out vertically flipped
        # views (negative strides, which torch and SB3 reject) or reuse their frame buffer.
        return np.array(self.env.render(), dtype=np.uint8, order="C", copy=True)


class FlatStateObservation(gym.ObservationWrapper):
    """Concatenate a dict of arrays (in its key order) into one float32 vector.

    dm_control's state observations are dicts of float64 arrays, some 0-d (the walker's
    ``height``); SB3's ``MlpPolicy`` wants one flat Box.

    :param env: an env with a ``Dict`` observation space of ``Box`` entries.
    :param keys: the order of concatenation; default: the space's (sorted) key order. :func:`make`
        passes dm_control's own order, which is the order of its ``flat_observation=True``.
    """

    def __init__(self, env: gym.Env, keys: Sequence[str] | None = None) -> None:
        space = env.observation_space
        if not isinstance(space, spaces.Dict):
            raise TypeError(f"FlatStateObservation needs a Dict observation space, got {space}")
        keys = list(space.spaces) if keys is None else list(keys)
        if sorted(keys) != sorted(space.spaces):
            raise ValueError(f"keys {keys} do not match the observation keys {list(space.spaces)}")
        super().__init__(env)
        self._keys = keys
        size = sum(int(np.prod(space[key].shape)) for key in self._keys)
        self.observation_space = spaces.Box(-np.inf, np.inf, (size,), np.float32)

    def observation(self, observation: dict[str, Any]) -> np.ndarray:
        return np.concatenate(
            [np.asarray(observation[key], dtype=np.float32).ravel() for key in self._keys]
        )


class ResetAfterEpisodeEnd(gym.Wrapper):
    """Refuse ``step()`` before the first ``reset()`` and after an episode ended (``terminated`` or
    ``truncated``) with gymnasium's ``ResetNeeded``, as its order enforcing does: dm_control would
    otherwise silently start a new episode inside ``step()``.

    Example::

        >>> env = ResetAfterEpisodeEnd(gym.make("CartPole-v1"))
        >>> env.step(0)
        Traceback (most recent call last):
        ...
        gymnasium.error.ResetNeeded: call reset() before step(): no episode is running
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._running = False
        self._ended_by = "no episode is running"

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        out = self.env.reset(**kwargs)
        self._running = True
        return out

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if not self._running:
            raise gym.error.ResetNeeded(f"call reset() before step(): {self._ended_by}")
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            self._running = False
            self._ended_by = f"the episode ended ({'terminated' if terminated else 'truncated'})"
        return obs, reward, terminated, truncated, info


class BoundedAction(gym.ActionWrapper):
    """``Box(-1, 1, float32)`` actions, checked, then mapped linearly onto the env's bounds.

    A wrong shape or a non-finite entry raises ``ValueError``. Out-of-range entries are clipped to
    ``[-1, 1]`` (``out_of_range="clip"``, GenRL's behaviour) or raise ``ValueError``
    (``out_of_range="raise"``). The checked action ``a`` is then rescaled to
    ``low + (a + 1) / 2 * (high - low)``, as dm_control's ``action_scale.Wrapper(-1, 1)`` does in
    GenRL (the identity for domains whose actuators already span [-1, 1]; the quadruped's don't).

    Example::

        >>> env = BoundedAction(gym.make("Pendulum-v1"))  # torque in [-2, 2]
        >>> env.action(np.array([0.5]))
        array([1.])

    :param env: an env with a bounded ``Box`` action space.
    :param out_of_range: ``"clip"`` or ``"raise"``.
    """

    def __init__(self, env: gym.Env, out_of_range: Literal["clip", "raise"] = "clip") -> None:
        if out_of_range not in ("clip", "raise"):
            raise ValueError(f"out_of_range must be 'clip' or 'raise', got {out_of_range!r}")
        inner = env.action_space
        if not (isinstance(inner, spaces.Box) and inner.is_bounded("both")):
            raise ValueError(f"BoundedAction needs a bounded Box action space, got {inner}")
        super().__init__(env)
        self.out_of_range = out_of_range
        self._low = inner.low.astype(np.float64)
        self._high = inner.high.astype(np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, inner.shape, np.float32)

    def action(self, action: Any) -> np.ndarray:
        try:
            raw = np.asarray(action)
        except (TypeError, ValueError) as error:
            raise ValueError(f"action must be an array of real numbers, got a {type(action).__name__}") from error
        if raw.dtype.kind not in "iuf" and not (raw.dtype.kind == "O" and _all_real(raw)):
            # complex values would lose their imaginary part, strings and booleans are not torques
            raise ValueError(f"action must be an array of real numbers, got dtype {raw.dtype}")
        try:
            array = raw.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"action must be an array of real numbers, got dtype {raw.dtype}") from error
        shape = self.action_space.shape
        if array.shape != shape:
            raise ValueError(f"action must have shape {shape}, got shape {array.shape}: {action!r}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"action contains NaN or inf: {array.tolist()}")
        if np.any(np.abs(array) > 1.0):
            if self.out_of_range == "raise":
                raise ValueError(f"action must lie in [-1, 1], got {array.tolist()}")
            array = np.clip(array, -1.0, 1.0)
        return self._low + (array + 1.0) / 2.0 * (self._high - self._low)


# ----------------------------------------------------------------------------- loading


def valid_tasks() -> dict[str, tuple[str, ...]]:
    """Every ``domain -> tasks`` :func:`make` can load (dm_control's suite plus GenRL's tasks)."""
    from vpt_gym.envs import suites

    return suites.valid_tasks()


def load_dm_env(domain: str, task: str, seed: int | np.random.RandomState | None = None):
    """``dm_control.suite.load`` with GenRL's custom tasks registered and clear errors.

    :param domain: e.g. ``"walker"`` or ``"stickman"``.
    :param task: e.g. ``"lying_down"``.
    :param seed: seed of the task's random state (initial poses).
    :raises ValueError: for an unknown domain or task, listing the valid ones.
    :raises ImportError: if ``domain`` is a custom domain whose module is missing.
    """
    from dm_control import suite

    from vpt_gym.envs import suites

    if domain == "kitchen":
        raise ValueError(
            "kitchen is not a dm_control domain; use vpt_gym.envs.kitchen.make(task=...) or "
            "gym.make('vpt_gym/kitchen-<task>-v0')"
        )
    suites.require_domain(domain)
    tasks = suites.valid_tasks()
    if domain not in tasks:
        close = difflib.get_close_matches(str(domain), list(tasks), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown dm_control domain {domain!r}.{hint} Valid domains: {', '.join(tasks)}"
        )
    if task not in tasks[domain]:
        close = difflib.get_close_matches(str(task), list(tasks[domain]), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown task {task!r} for domain {domain!r}.{hint} "
            f"Valid tasks: {', '.join(tasks[domain])}"
        )
    return suite.load(domain, task, task_kwargs={"random": seed})


def apply_render_quality(physics: Any, quality: str) -> None:
    """Set the model's visual quality: ``"default"`` keeps it, ``"fast"`` applies
    :data:`FAST_RENDER_SETTINGS`. Call before the first render (the shadow map size is read when
    the rendering context is created)."""
    if quality not in RENDER_QUALITIES:
        raise ValueError(f"render_quality must be one of {RENDER_QUALITIES}, got {quality!r}")
    if quality == "fast":
        for name, value in FAST_RENDER_SETTINGS.items():
            setattr(physics.model.vis.quality, name, value)


def physics_of(env: gym.Env) -> Any:
    """The dm_control ``Physics`` under an env built by :func:`make` (for tests and tools)."""
    return env.unwrapped._env.physics


def make(
    domain: str,
    task: str,
    *,
    size: int = 64,
    action_repeat: int = 2,
    camera_id: int | None = None,
    obs_type: Literal["pixels", "state"] = "pixels",
    render_mode: Literal["rgb_array", "human"] | None = None,
    render_quality: Literal["default", "fast"] = "default",
    seed: int | None = None,
    out_of_range: Literal["clip", "raise"] = "clip",
) -> gym.Env:
    """A dm_control task as a gymnasium env with GenRL's conventions.

    :param domain: dm_control domain, e.g. ``"walker"``, ``"cheetah"``, ``"quadruped"``,
        ``"stickman"`` (any domain of ``dm_control.suite`` works).
    :param task: task of that domain, GenRL's custom ones included (``"lying_down"``...).
    :param size: height and width of the pixel observations (and of ``render()``).
    :param action_repeat: control steps per agent step (rewards summed); GenRL uses 2.
    :param camera_id: camera for pixels; ``None`` picks the domain's GenRL camera
        (quadruped 2, others 0).
    :param obs_type: ``"pixels"`` (``(size, size, 3)`` uint8) or ``"state"`` (flat float32).
    :param render_mode: ``None``, ``"rgb_array"`` or ``"human"`` (a window; needs a display and
        the ``human`` extra). Pixel envs always render (``render_mode`` is ``"rgb_array"`` unless
        ``"human"`` is asked for); state envs render only when asked.
    :param render_quality: ``"default"`` (the model's own settings, as GenRL) or ``"fast"``
        (no multisampling, 512 shadow map: ~3x faster on the CPU, pixels differ by ~1/255).
    :param seed: seed of the task's random state for the first episode (``reset(seed=...)``
        reseeds it as usual).
    :param out_of_range: ``"clip"`` (default, GenRL) or ``"raise"`` for actions outside [-1, 1].
    :return: the env; episodes end with ``truncated=True`` after 1000 control steps
        (``spec.max_episode_steps``, through ``gym.make``: that many agent steps).
    """
    if obs_type not in OBS_TYPES:
        raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
    check_render_mode(render_mode)
    if render_quality not in RENDER_QUALITIES:
        raise ValueError(f"render_quality must be one of {RENDER_QUALITIES}, got {render_quality!r}")
    if not _is_positive_int(size) or size > MAX_SIZE:
        raise ValueError(f"size must be an integer in [1, {MAX_SIZE}] (pixels per side), got {size!r}")
    if not _is_positive_int(action_repeat):
        raise ValueError(f"action_repeat must be an integer >= 1, got {action_repeat!r}")

    from shimmy.dm_control_compatibility import DmControlCompatibilityV0

    dm_env = load_dm_env(domain, task, seed)
    physics = dm_env.physics
    camera = DEFAULT_CAMERA.get(domain, 0) if camera_id is None else camera_id
    if not isinstance(camera, (int, np.integer)) or not -1 <= camera < physics.model.ncam:
        raise ValueError(
            f"camera_id must be an integer in [-1, {physics.model.ncam - 1}] for {domain!r} "
            f"(-1 is the free camera), got {camera_id!r}"
        )
    apply_render_quality(physics, render_quality)

    renders = obs_type == "pixels" or render_mode is not None
    env: gym.Env = DmControlCompatibilityV0(
        dm_env,
        render_mode="rgb_array" if renders else None,
        render_kwargs={"width": int(size), "height": int(size), "camera_id": int(camera)},
    )
    if renders:
        env = GLForkGuard(env)
    env = ActionRepeat(env, action_repeat)
    if obs_type == "pixels":
        env = PixelObservation(env, int(size))
    else:
        env = FlatStateObservation(env, keys=list(dm_env.observation_spec()))
    env = BoundedAction(env, out_of_range)
    env = ResetAfterEpisodeEnd(env)
    # One agent step lasts action_repeat control steps (shimmy's own render_fps is per control
    # step and lives in a class-level dict shared by every shimmy env, so set ours here).
    env.metadata = {
        "render_modes": ["rgb_array"],
        "render_fps": 1.0 / (dm_env.control_timestep() * action_repeat),
    }
    env = show_in_window(env, render_mode)
    # dm_control truncates at the first control step whose count reaches its (float) step limit,
    # 1000 for every task here; ActionRepeat stops early at the end, so the last agent step may be
    # shorter: ceil(control steps / action_repeat) agent steps.
    step_limit = dm_env._step_limit  # dm_control has no public accessor for it
    if math.isfinite(step_limit):
        env = EpisodeLimitSpec(env, math.ceil(math.ceil(step_limit) / action_repeat))
    return env

"""MineRL 1.0 environments with VPT's action and observation spaces, on the gymnasium 1.x API.

MineRL 1.0 (the version VPT targets) uses the old gym API: ``seed()`` before ``reset() -> obs`` and
``step() -> (obs, reward, done, info)``. :class:`MineRLCompat` turns that into gymnasium's
``reset(seed=, options=) -> (obs, info)`` and 5-tuple ``step``:

- ``truncated`` is true when gym's ``TimeLimit`` ended the episode (``info["TimeLimit.truncated"]``)
  or when MineRL lost its socket connection to Minecraft (``"error" in info``: the observation is then
  a random sample, so the episode cannot go on);
- ``terminated`` is true for every other ``done`` (death, ``ESC`` in BASALT, a task's goal);
- ``reset(seed=s)`` seeds the env's ``np_random``, from which every episode's Minecraft world seed is
  drawn: a seeded reset and the unseeded resets after it replay the same worlds.

:func:`make` builds the stack ``MineRLCompat -> MineRLRestart -> VPTObservationWrapper ->
VPTActionWrapper``, which is what ``gym.make("vpt_gym/MineRL...-v0")`` returns. ``minerl`` is imported
only when a real environment is created.

Example (needs MineRL 1.0, a JDK 8 and a display or ``xvfb-run``)::

    import gymnasium as gym, numpy as np, vpt_gym
    env = gym.make("vpt_gym/MineRLBasaltFindCave-v0")
    obs, info = env.reset(seed=1)                         # obs: (128, 128, 3) uint8
    obs, reward, terminated, truncated, info = env.step(np.array([288, 60]))  # forward
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vpt_gym.optional import import_optional
from vpt_gym.registration import MINERL_TASKS

#: How to get a JDK 8 on Debian/Ubuntu: Debian 12 packages no Java 8 (``openjdk-8-jdk`` has no install
#: candidate there), so take Eclipse Temurin 8 from Adoptium's apt repository.
JDK8_INSTALL_HELP = (
    "    apt-get install -y wget gpg\n"
    "    wget -qO- https://packages.adoptium.net/artifactory/api/gpg/key/public | gpg --dearmor "
    "-o /etc/apt/trusted.gpg.d/adoptium.gpg\n"
    "    echo \"deb https://packages.adoptium.net/artifactory/deb $(. /etc/os-release; echo $VERSION_CODENAME) main\" "
    "> /etc/apt/sources.list.d/adoptium.list\n"
    "    apt-get update && apt-get install -y temurin-8-jdk"
)

MINERL_INSTALL_HELP = (
    "MineRL 1.0 is not on PyPI. It needs a Java 8 JDK and network access to Minecraft's servers while it builds.\n"
    "A JDK 8 on Debian/Ubuntu (Debian 12 has no openjdk-8-jdk; this is Eclipse Temurin 8 from Adoptium):\n"
    f"{JDK8_INSTALL_HELP}\n"
    "Then, in your vpt-gym checkout:\n"
    "    pip install -e \".[minerl]\"     # = pip install git+https://github.com/minerllabs/minerl\n"
    "On a machine without a display, run your script under `xvfb-run -a`."
)

OldGymEnv = Any  # a MineRL 1.0 env (old gym API); typed loosely so that gym need not be installed


def to_gymnasium_space(space: Any) -> spaces.Space:
    """Convert a MineRL / old-gym space to its gymnasium equivalent (duck-typed: gym need not be
    installed). ``Dict``, ``Box`` and ``Discrete`` map one to one; MineRL's string ``Enum`` spaces map
    to :class:`gymnasium.spaces.Text`.
    """
    if hasattr(space, "spaces") and isinstance(space.spaces, dict):
        return spaces.Dict({k: to_gymnasium_space(v) for k, v in space.spaces.items()})
    if hasattr(space, "n") and not hasattr(space, "low"):
        return spaces.Discrete(int(space.n))
    if hasattr(space, "low") and hasattr(space, "high"):
        return spaces.Box(
            low=np.asarray(space.low), high=np.asarray(space.high), shape=tuple(space.shape), dtype=space.dtype
        )
    if hasattr(space, "values"):  # minerl.herobraine.hero.spaces.Enum: one of a set of strings
        longest = max((len(str(v)) for v in space.values), default=1)
        return spaces.Text(max_length=longest, min_length=0, charset=frozenset(
            c for v in space.values for c in str(v)) or frozenset("none"))
    raise TypeError(f"Cannot convert MineRL space {space!r} ({type(space).__name__}) to a gymnasium space")


def _make_real_minerl(minerl_id: str) -> OldGymEnv:
    """``gym.make(minerl_id)`` on the real MineRL 1.0 (which registers its ids when imported)."""
    import_optional("minerl", "minerl", MINERL_INSTALL_HELP)
    gym_old = import_optional("gym", "minerl", MINERL_INSTALL_HELP)
    return gym_old.make(minerl_id)


class MineRLCompat(gym.Env):
    """A MineRL 1.0 environment (old gym API) behind the gymnasium 1.x API.

    :param factory: builds the MineRL env (a fresh Minecraft process) each time it is called;
        :meth:`recreate` calls it again after a crash.
    :param render_mode: ``None`` or ``"rgb_array"`` (returns the last ``pov`` frame, 360x640x3 RGB).

    Actions are MineRL's action dicts; keys the dict leaves out are not pressed (MineRL's own rule). An
    unknown key raises ``ValueError``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, factory: Callable[[], OldGymEnv], render_mode: str | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self._factory = factory
        self.render_mode = render_mode
        self._env = factory()
        self.action_space = to_gymnasium_space(self._env.action_space)
        self.observation_space = to_gymnasium_space(self._env.observation_space)
        self._action_keys = frozenset(self.action_space.spaces)
        self._last_pov: np.ndarray | None = None

    @property
    def minerl_env(self) -> OldGymEnv:
        """The wrapped MineRL env (old gym API)."""
        return self._env

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        # MineRL takes the world seed before reset(). Every episode gets one drawn from np_random, so
        # that (gymnasium's rule) reset(seed=s) followed by unseeded resets replays the same worlds.
        self._env.seed(int(self.np_random.integers(0, 2**31 - 1)))
        obs = self._env.reset()
        self._last_pov = obs.get("pov")
        return obs, {}

    def step(self, action: dict[str, Any]) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        if not isinstance(action, dict):
            raise TypeError(f"MineRL actions are dicts of the 24 MineRL keys, got {type(action).__name__}")
        unknown = action.keys() - self._action_keys
        if unknown:
            raise ValueError(
                f"Unknown MineRL action key(s) {sorted(unknown)}; expected a subset of {sorted(self._action_keys)}"
            )
        obs, reward, done, info = self._env.step(action)
        info = dict(info)
        time_limit = bool(info.pop("TimeLimit.truncated", False))
        truncated = time_limit or "error" in info
        terminated = bool(done) and not truncated
        self._last_pov = obs.get("pov")
        return obs, float(reward), terminated, truncated, info

    def recreate(self) -> None:
        """Close the current Minecraft process (best effort) and start a new one."""
        try:
            self._env.close()
        except Exception:  # noqa: BLE001 - the process is usually already dead
            pass
        self._env = self._factory()

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self._last_pov
        return None

    def close(self) -> None:
        self._env.close()


def make(
    minerl_id: str,
    *,
    size: int = 128,
    restart: bool = True,
    restart_every: int | None = None,
    max_reset_retries: int = 3,
    step_timeout: float | None = None,
    restart_timeout: float | None = None,
    render_mode: str | None = None,
    minerl_factory: Callable[[], OldGymEnv] | None = None,
) -> gym.Env:
    """Build a MineRL 1.0 env with VPT's action space (``MultiDiscrete([8641, 121])``) and frames.

    :param minerl_id: a MineRL 1.0 id, e.g. ``"MineRLBasaltFindCave-v0"`` (see ``vpt_gym.env_ids("minerl")``).
    :param size: side of the square RGB frame (VPT: 128).
    :param restart: recreate Minecraft when it dies or times out (:class:`~wrappers.restart.MineRLRestart`).
    :param restart_every: also recreate Minecraft every N episodes (long-running Minecraft degrades).
    :param max_reset_retries: how many fresh processes a failing ``reset`` may try.
    :param step_timeout: seconds a step or reset may take before Minecraft counts as hung and is recreated
        (``None``: wait forever); see :class:`~wrappers.restart.MineRLRestart`.
    :param restart_timeout: seconds one restart may take before :class:`~wrappers.restart.RestartTimeout`
        is raised (``None``: wait forever).
    :param render_mode: ``None`` or ``"rgb_array"`` (the full 640x360 frame).
    :param minerl_factory: builds the old-gym MineRL env; default ``gym.make(minerl_id)`` on the real
        MineRL (tests pass a double).
    """
    if minerl_id not in MINERL_TASKS:
        raise ValueError(f"Unknown MineRL id {minerl_id!r}; expected one of {sorted(MINERL_TASKS)}")
    if minerl_factory is None:
        import_optional("minerl", "minerl", MINERL_INSTALL_HELP)  # fail now, with the install steps
        minerl_factory = partial(_make_real_minerl, minerl_id)
    from wrappers.restart import MineRLRestart
    from wrappers.vpt_action import VPTActionWrapper
    from wrappers.vpt_observation import VPTObservationWrapper

    env: gym.Env = MineRLCompat(minerl_factory, render_mode=render_mode)
    if restart:
        env = MineRLRestart(env, restart_every=restart_every, max_reset_retries=max_reset_retries,
                            step_timeout=step_timeout, restart_timeout=restart_timeout)
    env = VPTObservationWrapper(env, size=size)
    return VPTActionWrapper(env)

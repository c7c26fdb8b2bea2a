"""Recreate a crashed or hung Minecraft process instead of crashing a long run."""
from __future__ import annotations

import logging
from typing import Any, SupportsFloat

import gymnasium as gym

logger = logging.getLogger(__name__)

# What a dead or hung Minecraft process raises: socket timeouts and resets (OSError subclasses, incl.
# TimeoutError and ConnectionError), a closed pipe read (EOFError), and MineRL's MissionInitException.
RECOVERABLE_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError)
RECOVERABLE_ERROR_NAMES = frozenset({"MissionInitException"})


def is_recoverable(error: BaseException) -> bool:
    """Whether ``error`` means "the Minecraft process is gone" (as opposed to a bug in the caller)."""
    return isinstance(error, RECOVERABLE_ERRORS) or type(error).__name__ in RECOVERABLE_ERROR_NAMES


class MineRLRestart(gym.Wrapper):
    """Restart Minecraft when it dies or times out, ending the episode as truncated.

    - A step that raises a recoverable error (socket timeout, connection reset, ...) recreates the
      process and returns the last observation with ``reward=0, terminated=False, truncated=True``.
    - A step whose ``info`` has MineRL's ``"error"`` key (a lost connection that MineRL caught itself)
      is already truncated; the process is recreated at the next ``reset``.
    - A ``reset`` that fails is retried on a fresh process up to ``max_reset_retries`` times.
    - ``restart_every=N`` also recreates the process before every N-th episode.

    Every ``info`` carries ``"minerl_restarts"``, the number of restarts so far; a step that restarted
    also carries ``"minerl_restart_reason"``.

    The wrapped env's ``unwrapped`` must have a ``recreate()`` method (as
    :class:`vpt_gym.envs.minerl.MineRLCompat` has).

    Example::

        env = MineRLRestart(MineRLCompat(lambda: gym_old.make("MineRLBasaltFindCave-v0")), restart_every=50)

    :param env: the env to protect.
    :param restart_every: recreate the process every N episodes (``None``: only after failures).
    :param max_reset_retries: fresh processes a failing ``reset`` may try before giving up.
    """

    def __init__(self, env: gym.Env, restart_every: int | None = None, max_reset_retries: int = 3) -> None:
        super().__init__(env)
        if not callable(getattr(env.unwrapped, "recreate", None)):
            raise TypeError(
                f"MineRLRestart needs an env whose unwrapped env has recreate(); got {type(env.unwrapped).__name__}"
            )
        if restart_every is not None and restart_every < 1:
            raise ValueError(f"restart_every must be a positive number of episodes or None, got {restart_every}")
        if max_reset_retries < 0:
            raise ValueError(f"max_reset_retries must be >= 0, got {max_reset_retries}")
        self.restart_every = restart_every
        self.max_reset_retries = max_reset_retries
        self.restarts = 0
        self.episodes = 0
        self._needs_restart = False
        self._last_obs: Any = None

    def _restart(self, reason: str) -> None:
        logger.warning("Restarting Minecraft (%s)", reason)
        self.env.unwrapped.recreate()
        self.restarts += 1
        self._needs_restart = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.episodes += 1
        if self._needs_restart:
            self._restart("the previous episode lost its connection")
        elif self.restart_every is not None and self.episodes > 1 and (self.episodes - 1) % self.restart_every == 0:
            self._restart(f"periodic restart every {self.restart_every} episodes")
        for attempt in range(self.max_reset_retries + 1):
            try:
                obs, info = self.env.reset(seed=seed, options=options)
                break
            except Exception as error:  # noqa: BLE001 - filtered just below
                if not is_recoverable(error):
                    raise
                if attempt == self.max_reset_retries:
                    raise RuntimeError(
                        f"Minecraft failed to reset {attempt + 1} times in a row (last error: {error!r})"
                    ) from error
                self._restart(f"reset failed: {error!r}")
        self._last_obs = obs
        info = dict(info, minerl_restarts=self.restarts)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as error:  # noqa: BLE001 - filtered just below
            if not is_recoverable(error):
                raise
            reason = f"step failed: {error!r}"
            self._restart(reason)
            info = {"minerl_restarts": self.restarts, "minerl_restart_reason": reason}
            return self._last_obs, 0.0, False, True, info
        if "error" in info:
            self._needs_restart = True
        self._last_obs = obs
        info = dict(info, minerl_restarts=self.restarts)
        return obs, reward, terminated, truncated, info

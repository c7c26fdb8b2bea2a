"""Recreate a crashed or hung Minecraft process instead of crashing a long run."""
from __future__ import annotations

import errno
import logging
import math
import queue
import threading
from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym

logger = logging.getLogger(__name__)

# What a dead or hung Minecraft process raises: socket timeouts (TimeoutError), resets, refusals and
# broken pipes (ConnectionError), a closed pipe read (EOFError), and MineRL's MissionInitException.
# Other OSErrors (a full disk, a missing file, a permission) are not a dead Minecraft and are re-raised.
RECOVERABLE_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, EOFError)
RECOVERABLE_ERROR_NAMES = frozenset({"MissionInitException"})
#: errno values of a plain ``OSError`` that mean the connection to Minecraft is gone.
RECOVERABLE_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.EPIPE,
                                errno.ENOTCONN, errno.ETIMEDOUT})  # fmt: skip


def is_recoverable(error: BaseException) -> bool:
    """Whether ``error`` means "the Minecraft process is gone" (as opposed to a bug in the caller or a
    problem of this machine, such as a full disk)."""
    if isinstance(error, RECOVERABLE_ERRORS) or type(error).__name__ in RECOVERABLE_ERROR_NAMES:
        return True
    return isinstance(error, OSError) and error.errno in RECOVERABLE_ERRNOS


class StepTimeout(TimeoutError):
    """A call into Minecraft did not return within the wrapper's ``step_timeout``."""


class _Watchdog:
    """Runs calls in a daemon worker thread and gives up on one after ``timeout`` seconds (the hung
    worker is abandoned: a new one serves the next call; a daemon thread never blocks the exit)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._jobs: queue.Queue[Any] | None = None

    def _start(self) -> queue.Queue[Any]:
        jobs: queue.Queue[Any] = queue.Queue()

        def work() -> None:
            while True:
                job = jobs.get()
                if job is None:
                    return
                fn, out = job
                try:
                    out.put((True, fn()))
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    out.put((False, error))

        threading.Thread(target=work, daemon=True, name="minerl-step-watchdog").start()
        return jobs

    def call(self, fn: Callable[[], Any], what: str) -> Any:
        if self._jobs is None:
            self._jobs = self._start()
        out: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._jobs.put((fn, out))
        try:
            ok, value = out.get(timeout=self.timeout)
        except queue.Empty:
            self._jobs = None  # that worker is stuck in Minecraft; the next call gets a fresh one
            raise StepTimeout(f"{what} did not return within step_timeout={self.timeout:g} s") from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None


class RestartTimeout(RuntimeError):
    """Recreating Minecraft (closing the old process, starting a new one) took longer than ``restart_timeout``."""


class MineRLRestart(gym.Wrapper):
    """Restart Minecraft when it dies or times out, ending the episode as truncated.

    - A step that raises a recoverable error (socket timeout, connection reset or refused, broken
      pipe, EOF, MineRL's MissionInitException; see :func:`is_recoverable`) recreates the process and
      returns the last observation with ``reward=0, terminated=False, truncated=True``. Other errors
      (any other ``OSError`` included) are re-raised.
    - With ``step_timeout=T``, a step (or reset) that has not returned after ``T`` seconds counts as
      a hung Minecraft: the process is recreated and the episode truncated the same way (a hung
      reset is retried like a failed one). The calls then run in a worker thread.
    - A step whose ``info`` has MineRL's ``"error"`` key (a lost connection that MineRL caught itself)
      is already truncated; the process is recreated at the next ``reset``.
    - A ``reset`` that fails is retried on a fresh process up to ``max_reset_retries`` times.
    - ``restart_every=N`` also recreates the process before every N-th episode.
    - With ``restart_timeout=R``, a restart that has not finished after ``R`` seconds (a close that waits on a
      dead socket, a launch that never comes up) raises :class:`RestartTimeout` instead of waiting forever.

    Every ``info`` carries ``"minerl_restarts"``, the number of restarts so far; a step that restarted
    also carries ``"minerl_restart_reason"``.

    The wrapped env's ``unwrapped`` must have a ``recreate()`` method (as
    :class:`vpt_gym.envs.minerl.MineRLCompat` has).

    Example::

        env = MineRLRestart(MineRLCompat(lambda: gym_old.make("MineRLBasaltFindCave-v0")), restart_every=50)

    :param env: the env to protect.
    :param restart_every: recreate the process every N episodes (``None``: only after failures).
    :param max_reset_retries: fresh processes a failing ``reset`` may try before giving up.
    :param step_timeout: seconds a step or reset may take before Minecraft is taken for hung (``None``:
        wait forever). Leave room for slow steps: world generation at reset takes tens of seconds.
    :param restart_timeout: seconds one restart may take (``None``: wait forever). Launching Minecraft takes
        a minute or more on a slow machine; give it several.
    """

    def __init__(self, env: gym.Env, restart_every: int | None = None, max_reset_retries: int = 3,
                 step_timeout: float | None = None, restart_timeout: float | None = None) -> None:  # fmt: skip
        super().__init__(env)
        if not callable(getattr(env.unwrapped, "recreate", None)):
            raise TypeError(
                f"MineRLRestart needs an env whose unwrapped env has recreate(); got {type(env.unwrapped).__name__}"
            )
        if restart_every is not None and restart_every < 1:
            raise ValueError(f"restart_every must be a positive number of episodes or None, got {restart_every}")
        if max_reset_retries < 0:
            raise ValueError(f"max_reset_retries must be >= 0, got {max_reset_retries}")
        for name, timeout in (("step_timeout", step_timeout), ("restart_timeout", restart_timeout)):
            if timeout is not None and (
                isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                or not math.isfinite(timeout) or timeout <= 0
            ):
                raise ValueError(f"{name} must be a finite number of seconds > 0 or None, got {timeout!r}")
        self.step_timeout = step_timeout
        self.restart_timeout = restart_timeout
        self._watchdog = _Watchdog(float(step_timeout)) if step_timeout is not None else None
        self._restart_watchdog = _Watchdog(float(restart_timeout)) if restart_timeout is not None else None
        self.restart_every = restart_every
        self.max_reset_retries = max_reset_retries
        self.restarts = 0
        self.episodes = 0
        self._needs_restart = False
        self._last_obs: Any = None

    def _restart(self, reason: str) -> None:
        logger.warning("Restarting Minecraft (%s)", reason)
        recreate = self.env.unwrapped.recreate
        if self._restart_watchdog is None:
            recreate()
        else:
            try:
                self._restart_watchdog.call(recreate, "restart")
            except StepTimeout:
                raise RestartTimeout(
                    f"Minecraft did not restart within restart_timeout={self.restart_timeout:g} s (restart after: "
                    f"{reason[:300]})"
                ) from None
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
                obs, info = self._call(lambda: self.env.reset(seed=seed, options=options), "reset")
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
            obs, reward, terminated, truncated, info = self._call(lambda: self.env.step(action), "step")
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

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        return fn() if self._watchdog is None else self._watchdog.call(fn, what)

    def close(self) -> None:
        for watchdog in (self._watchdog, self._restart_watchdog):
            if watchdog is not None:
                watchdog.close()
        super().close()

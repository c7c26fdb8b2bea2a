"""MineRLRestart: recreate Minecraft after crashes and time-outs, end the episode as truncated."""
from __future__ import annotations

import errno
import socket
import threading

import numpy as np
import pytest

from vpt_gym.envs.minerl_double import BINARY_KEYS, DoubleFactory
from vpt_gym.envs.minerl import MineRLCompat
from wrappers.restart import MineRLRestart, RestartTimeout, is_recoverable

NOOP = {k: 0 for k in BINARY_KEYS} | {"camera": np.zeros(2, np.float32)}


def restarting(factory: DoubleFactory, **kwargs) -> MineRLRestart:
    return MineRLRestart(MineRLCompat(factory), **kwargs)


def test_crash_during_step_recreates_and_truncates():
    factory = DoubleFactory("MineRLBasaltFindCave-v0", crash_at_steps=(3,))
    env = restarting(factory)
    obs0, info = env.reset(seed=0)
    assert info["minerl_restarts"] == 0
    obs1, *_ = env.step(NOOP)
    env.step(NOOP)
    obs, reward, terminated, truncated, info = env.step(NOOP)  # the process dies here
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["minerl_restarts"] == 1 and "Minecraft process died" in info["minerl_restart_reason"]
    assert len(factory.made) == 2 and factory.made[0].closed
    obs, info = env.reset()
    assert info["minerl_restarts"] == 1
    assert factory.made[1].resets == 1
    env.step(NOOP)
    assert len(factory.made[1].actions) == 1


def test_error_in_info_recreates_at_next_reset():
    factory = DoubleFactory("MineRLBasaltFindCave-v0", fail_at_steps=(2,))
    env = restarting(factory)
    env.reset(seed=0)
    env.step(NOOP)
    _, _, terminated, truncated, info = env.step(NOOP)
    assert truncated and not terminated and "error" in info
    assert len(factory.made) == 1
    _, info = env.reset()
    assert len(factory.made) == 2 and info["minerl_restarts"] == 1


def test_failing_reset_is_retried_on_fresh_processes_then_gives_up():
    factory = DoubleFactory("MineRLBasaltFindCave-v0", crash_at_steps=(1,))
    env = restarting(factory, max_reset_retries=2)
    env.reset(seed=0)
    env.step(NOOP)  # crash -> restart #1 (the new double is alive)
    factory.made[1].dead = True  # the new process dies before its first reset
    _, info = env.reset()
    assert info["minerl_restarts"] == 2 and len(factory.made) == 3

    for double in factory.made:
        double.dead = True
    original_factory = factory.__call__

    def dead_factory():
        wrapped = original_factory()
        wrapped.env.dead = True
        return wrapped

    env.unwrapped._factory = dead_factory
    env.unwrapped.minerl_env.env.dead = True
    with pytest.raises(RuntimeError, match="failed to reset 3 times"):
        env.reset()


def test_periodic_restart():
    factory = DoubleFactory("MineRLBasaltFindCave-v0")
    env = restarting(factory, restart_every=2)
    made_before_episode = []
    for _ in range(5):
        env.reset()
        made_before_episode.append(len(factory.made))
    # episodes 1..5: a fresh process before episode 3 and episode 5
    assert made_before_episode == [1, 1, 2, 2, 3]


def test_bugs_are_not_swallowed():
    env = restarting(DoubleFactory("MineRLBasaltFindCave-v0"))
    env.reset()
    env.step(NOOP | {"ESC": 1})  # ends the BASALT episode
    with pytest.raises(RuntimeError, match="done=True"):  # stepping a finished episode is a caller bug
        env.step(NOOP)


def test_recoverable_errors():
    assert is_recoverable(socket.timeout())
    assert is_recoverable(ConnectionResetError())
    assert is_recoverable(EOFError())
    assert is_recoverable(type("MissionInitException", (Exception,), {})())
    assert is_recoverable(ConnectionRefusedError()) and is_recoverable(BrokenPipeError())
    assert is_recoverable(OSError(errno.ECONNRESET, "reset by peer"))
    assert not is_recoverable(ValueError())
    assert not is_recoverable(KeyError("ESC"))
    # OSErrors that are this machine's problem, not a dead Minecraft
    assert not is_recoverable(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_recoverable(FileNotFoundError("world.zip"))
    assert not is_recoverable(PermissionError())


def test_an_oserror_that_is_not_a_dead_minecraft_is_re_raised():
    factory = DoubleFactory("MineRLBasaltFindCave-v0")
    env = restarting(factory)
    env.reset(seed=0)
    factory.made[0].raise_at_step = (1, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError, match="No space left"):
        env.step(NOOP)
    assert len(factory.made) == 1 and env.restarts == 0


def test_a_step_that_blocks_forever_is_restarted_after_the_timeout_and_truncated():
    factory = DoubleFactory("MineRLBasaltFindCave-v0", block_at_steps=(2,))
    env = restarting(factory, step_timeout=0.5)
    env.reset(seed=0)
    obs1, *_ = env.step(NOOP)
    obs, reward, terminated, truncated, info = env.step(NOOP)  # the double hangs here
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["minerl_restarts"] == 1 and "did not return within step_timeout=0.5 s" in info["minerl_restart_reason"]
    np.testing.assert_array_equal(obs, obs1)  # the last observation
    assert len(factory.made) == 2 and factory.made[0].closed  # the hung process was killed (closed)
    _, info = env.reset(seed=1)
    env.step(NOOP)
    assert info["minerl_restarts"] == 1 and len(factory.made[1].actions) == 1
    env.close()


def test_a_reset_that_hangs_is_retried_on_a_fresh_process():
    factory = DoubleFactory("MineRLBasaltFindCave-v0")
    env = restarting(factory, step_timeout=0.5)
    first = factory.made[0] if factory.made else None
    env.unwrapped.minerl_env.env.reset = lambda: threading.Event().wait()  # hangs forever
    _, info = env.reset(seed=0)
    assert info["minerl_restarts"] == 1 and len(factory.made) == 2
    assert first is None or first.closed
    env.close()


@pytest.mark.parametrize("name", ["step_timeout", "restart_timeout"])
@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "5", True])
def test_timeouts_must_be_positive_seconds(timeout, name):
    with pytest.raises(ValueError, match=f"{name} must be a finite number of seconds > 0"):
        restarting(DoubleFactory("MineRLBasaltFindCave-v0"), **{name: timeout})


class HangingFactory(DoubleFactory):
    """A double factory whose second launch does not come up (until ``stuck`` is set)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stuck = threading.Event()

    def __call__(self):
        if self.made:
            self.stuck.wait()
        return super().__call__()


def test_a_restart_whose_launch_hangs_raises_after_the_restart_timeout():
    factory = HangingFactory("MineRLBasaltFindCave-v0", crash_at_steps=(1,))
    env = restarting(factory, restart_timeout=0.5)
    env.reset(seed=0)
    with pytest.raises(RestartTimeout, match=r"did not restart within restart_timeout=0.5 s \(restart after: step failed"):
        env.step(NOOP)
    assert factory.made[0].closed and len(factory.made) == 1
    factory.stuck.set()


def test_a_restart_whose_close_hangs_raises_after_the_restart_timeout():
    factory = DoubleFactory("MineRLBasaltFindCave-v0")
    env = restarting(factory, restart_every=1, restart_timeout=0.5)
    env.reset(seed=0)
    old = factory.made[0]
    stuck = threading.Event()
    old.close = stuck.wait  # the old process does not close (until the test lets it)
    with pytest.raises(RestartTimeout, match="periodic restart every 1 episodes"):
        env.reset(seed=1)
    assert len(factory.made) == 1  # no second Minecraft was started behind the user's back
    stuck.set()


def test_a_restart_within_the_restart_timeout_goes_on_as_before():
    factory = DoubleFactory("MineRLBasaltFindCave-v0", crash_at_steps=(1,))
    env = restarting(factory, restart_timeout=30)
    env.reset(seed=0)
    *_, truncated, info = env.step(NOOP)
    assert truncated and info["minerl_restarts"] == 1 and len(factory.made) == 2 and factory.made[0].closed
    env.close()


def test_bad_arguments():
    import gymnasium as gym

    with pytest.raises(TypeError, match="recreate"):
        MineRLRestart(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="restart_every"):
        restarting(DoubleFactory("MineRLBasaltFindCave-v0"), restart_every=0)

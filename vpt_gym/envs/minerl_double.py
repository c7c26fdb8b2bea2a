"""A double of the MineRL 1.0 environment API (no Java, no Minecraft), for tests and benchmarks.

Real MineRL needs a JDK 8 and builds Minecraft at install time, so the adapter's tests and the
wrapper-overhead benchmark run against this double; it ships with the package so that the installed
``vpt-gym bench`` can use it. Pass it as ``gym.make("vpt_gym/MineRLBasaltFindCave-v0",
minerl_factory=DoubleFactory("MineRLBasaltFindCave-v0"))``.

It reproduces what our adapter relies on, as MineRL 1.0 (``minerllabs/minerl`` 8268ee99) behaves:

- the old gym API: ``seed(seed)`` must be called before ``reset()``; ``reset() -> obs``;
  ``step(action) -> (obs, reward, done, info)``; stepping after ``done`` raises ``RuntimeError``
  (``_MultiAgentEnv.step``);
- the spaces as duck-typed MineRL/gym spaces: the 24-key action ``Dict`` (23 ``Discrete(2)`` keys and
  ``camera`` ``Box(-180, 180, (2,), float32)``, spec vpt.md 1.1) with ``noop()``; observation ``pov``
  ``Box(0, 255, (360, 640, 3), uint8)``, plus an ``inventory`` dict for the non-BASALT tasks (a subset
  of MineRL's ~1,000 items, enough to exercise nested spaces);
- missing action keys are treated as not pressed (``_process_action`` only serialises present keys);
  BASALT envs read ``action["ESC"]`` directly (``DoneOnESCWrapper``) and raise ``KeyError`` without it,
  and ``ESC=1`` ends a BASALT episode;
- a socket failure returns ``(random obs, 0, True, {"error": "Connection timed out!"})`` and leaves the
  process unusable until it is recreated; a crashed process raises on the next call;
- gym <= 0.23's ``TimeLimit`` (which ``gym.make`` adds from ``max_episode_steps``): ``done=True`` and
  ``info["TimeLimit.truncated"] = True`` at the limit.

The double also records every action it received, so tests can check what reached "Minecraft".
"""
from __future__ import annotations

import socket
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

BINARY_KEYS = (
    "ESC", "attack", "back", "drop", "forward",
    "hotbar.1", "hotbar.2", "hotbar.3", "hotbar.4", "hotbar.5", "hotbar.6", "hotbar.7", "hotbar.8",
    "hotbar.9", "inventory", "jump", "left", "pickItem", "right", "sneak", "sprint", "swapHands", "use",
)
INVENTORY_ITEMS = ("dirt", "log", "planks", "stick", "crafting_table", "wooden_pickaxe", "cobblestone")
POV_SHAPE = (360, 640, 3)


# --- duck-typed MineRL spaces (minerl.herobraine.hero.spaces subclass old gym spaces) -------------
class Discrete:
    def __init__(self, n: int) -> None:
        self.n = n
        self.shape = ()
        self.dtype = np.dtype(np.int64)

    def noop(self) -> int:
        return 0

    def contains(self, x: Any) -> bool:
        return int(x) == x and 0 <= int(x) < self.n


class Box:
    def __init__(self, low: float, high: float, shape: tuple[int, ...], dtype: Any) -> None:
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self.low = np.full(shape, low, dtype=self.dtype)
        self.high = np.full(shape, high, dtype=self.dtype)

    def noop(self) -> np.ndarray:
        return np.zeros(self.shape, dtype=self.dtype)

    def contains(self, x: Any) -> bool:
        x = np.asarray(x)
        return x.shape == self.shape and bool(np.all(x >= self.low) and np.all(x <= self.high))


class Dict:
    def __init__(self, spaces: dict[str, Any]) -> None:
        self.spaces = OrderedDict(sorted(spaces.items()))

    def __getitem__(self, key: str) -> Any:
        return self.spaces[key]

    def noop(self) -> OrderedDict:
        return OrderedDict((k, s.noop()) for k, s in self.spaces.items())

    def seed(self, seed: int | None) -> None:
        pass


def action_space() -> Dict:
    spaces: dict[str, Any] = {k: Discrete(2) for k in BINARY_KEYS}
    spaces["camera"] = Box(-180.0, 180.0, (2,), np.float32)
    return Dict(spaces)


def observation_space(basalt: bool) -> Dict:
    spaces: dict[str, Any] = {"pov": Box(0, 255, POV_SHAPE, np.uint8)}
    if not basalt:
        spaces["inventory"] = Dict({item: Box(0, 2304, (), np.int64) for item in INVENTORY_ITEMS})
    return Dict(spaces)


class MinecraftCrashed(ConnectionResetError):
    """What the double raises once its "Minecraft process" is dead."""


class MineRLDouble:
    """One MineRL 1.0 single-agent env, old gym API.

    :param env_id: the MineRL id, e.g. ``"MineRLBasaltFindCave-v0"``.
    :param fail_at_step: on this step (1-based, counted over the double's life), return MineRL's
        socket-failure tuple and die.
    :param crash_at_step: on this step, raise ``MinecraftCrashed`` (the process died mid-step) and die.
    :param block_at_step: on this step, block (a hung Minecraft) until :meth:`close` (or ``release``)
        is called, then raise ``ConnectionResetError`` as a killed process's socket does.
    :param raise_at_step: ``(step, error)``: on this step, raise ``error`` (e.g. an ``OSError`` that is
        not a dead Minecraft, such as a full disk).
    """

    def __init__(self, env_id: str, fail_at_step: int | None = None, crash_at_step: int | None = None,
                 block_at_step: int | None = None,
                 raise_at_step: tuple[int, BaseException] | None = None) -> None:  # fmt: skip
        self.env_id = env_id
        self.basalt = "Basalt" in env_id
        self.action_space = action_space()
        self.observation_space = observation_space(self.basalt)
        self.fail_at_step = fail_at_step
        self.crash_at_step = crash_at_step
        self.block_at_step = block_at_step
        self.raise_at_step = raise_at_step
        # only a blocking double holds an Event (one that does not stays deep-copyable, as gym specs need)
        self.release = threading.Event() if block_at_step is not None else None
        self.actions: list[dict[str, Any]] = []
        self.total_steps = 0
        self.resets = 0
        self.closed = False
        self.dead = False
        self.done = True
        self._seed: int | None = None
        self._world_rng = np.random.default_rng()
        self._t = 0
        self._world = 0

    # -- old gym API ------------------------------------------------------------------------------
    def seed(self, seed: int | None = None, seed_spaces: bool = True) -> None:
        assert isinstance(seed, int) or seed is None, "Seed must be an int!"
        self._seed = seed

    def reset(self) -> dict[str, Any]:
        self._check_alive()
        # MineRL generates the world from the seed given before reset; unseeded resets get a new world.
        rng = np.random.default_rng(self._seed) if self._seed is not None else self._world_rng
        self._world = int(rng.integers(0, 2**31))
        self._seed = None
        self._t = 0
        self.resets += 1
        self.done = False
        return self._obs()

    def step(self, action: dict[str, Any]) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        self._check_alive()
        if self.done:
            raise RuntimeError("Attempted to step an environment server with done=True")
        self.total_steps += 1
        if self.crash_at_step is not None and self.total_steps == self.crash_at_step:
            self.dead = True
            raise MinecraftCrashed("Minecraft process died")
        if self.block_at_step is not None and self.total_steps == self.block_at_step:
            assert self.release is not None
            self.release.wait()  # hung until the process is killed
            self.dead = True
            raise ConnectionResetError("the Minecraft process was killed while it hung")
        if self.raise_at_step is not None and self.total_steps == self.raise_at_step[0]:
            raise self.raise_at_step[1]
        if self.fail_at_step is not None and self.total_steps == self.fail_at_step:
            self.dead = True
            self.done = True
            obs = {"pov": np.random.randint(0, 256, POV_SHAPE, dtype=np.uint8)}
            return obs, 0.0, True, {"error": "Connection timed out!"}
        for key in action:  # the real env would fail to serialise an unknown handler
            if key not in self.action_space.spaces:
                raise KeyError(f"unknown action key {key!r}")
        esc = action["ESC"] if self.basalt else action.get("ESC", 0)  # DoneOnESCWrapper reads it directly
        self.actions.append({k: np.copy(v) for k, v in action.items()})
        self._t += 1
        done = bool(self.basalt and int(esc) == 1)
        reward = 0.0 if self.basalt else float(int(action.get("attack", 0)))
        self.done = done
        return self._obs(), reward, done, {}

    def render(self, mode: str = "human") -> np.ndarray:
        return self._obs()["pov"]

    def close(self) -> None:
        self.closed = True
        if self.release is not None:
            self.release.set()

    # -- helpers ----------------------------------------------------------------------------------
    def _check_alive(self) -> None:
        if self.dead:
            raise socket.timeout("the Minecraft process does not answer")

    def _obs(self) -> dict[str, Any]:
        # A frame that depends only on the world seed and the time step (deterministic under a seed).
        h, w, _ = POV_SHAPE
        y = np.arange(h, dtype=np.int64)[:, None]
        x = np.arange(w, dtype=np.int64)[None, :]
        base = (x + 3 * self._t + self._world % 251) % 256
        pov = np.stack([base + 0 * y, (y + self._world % 97) % 256 + 0 * x, (x + y) % 256], axis=-1)
        obs: dict[str, Any] = {"pov": pov.astype(np.uint8)}
        if not self.basalt:
            obs["inventory"] = {item: np.int64(0) for item in INVENTORY_ITEMS}
        return obs


class OldGymTimeLimit:
    """gym <= 0.23's ``TimeLimit``, which ``gym.make`` puts around every MineRL env."""

    def __init__(self, env: MineRLDouble, max_episode_steps: int | None) -> None:
        self.env = env
        self.max_episode_steps = max_episode_steps
        self._elapsed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def reset(self) -> dict[str, Any]:
        self._elapsed = 0
        return self.env.reset()

    def step(self, action: dict[str, Any]) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        obs, reward, done, info = self.env.step(action)
        self._elapsed += 1
        if self.max_episode_steps is not None and self._elapsed >= self.max_episode_steps:
            info["TimeLimit.truncated"] = not done
            done = True
        return obs, reward, done, info


class DoubleFactory:
    """Builds doubles like ``gym.make(minerl_id)`` would and keeps every instance it made.

    :param fail_at_steps: per-instance ``fail_at_step`` values, in creation order.
    :param crash_at_steps: per-instance ``crash_at_step`` values, in creation order.
    :param block_at_steps: per-instance ``block_at_step`` values, in creation order.
    """

    def __init__(
        self,
        env_id: str,
        max_episode_steps: int | None = None,
        fail_at_steps: tuple[int | None, ...] = (),
        crash_at_steps: tuple[int | None, ...] = (),
        block_at_steps: tuple[int | None, ...] = (),
    ) -> None:
        self.env_id = env_id
        self.max_episode_steps = max_episode_steps
        self.fail_at_steps = fail_at_steps
        self.crash_at_steps = crash_at_steps
        self.block_at_steps = block_at_steps
        self.made: list[MineRLDouble] = []

    def __call__(self) -> OldGymTimeLimit:
        i = len(self.made)
        fail = self.fail_at_steps[i] if i < len(self.fail_at_steps) else None
        crash = self.crash_at_steps[i] if i < len(self.crash_at_steps) else None
        block = self.block_at_steps[i] if i < len(self.block_at_steps) else None
        env = MineRLDouble(self.env_id, fail_at_step=fail, crash_at_step=crash, block_at_step=block)
        self.made.append(env)
        return OldGymTimeLimit(env, self.max_episode_steps)

"""Crafter (Hafner 2021) as a gymnasium 1.x environment: a 2D Minecraft-like tech tree on the CPU.

``crafter.Env`` (PyPI ``crafter`` 1.8.3) speaks the old gym API: ``reset() -> obs`` and
``step(a) -> (obs, reward, done, info)``, with one ``done`` for both death and the time limit, and a
seed fixed at construction. :class:`CrafterEnv` adapts it:

* **observations**: ``(size, size, 3)`` uint8 RGB (64x64 by default, the paper's setting), a new
  C-contiguous array every step (crafter's own frame is a transposed view);
* **actions**: ``Discrete(17)`` in crafter's order (:data:`ACTION_NAMES`). An out-of-range index, a
  float (NaN included), a bool, a string or an array that is not a single integer raise
  ``ValueError`` naming the value and ``Discrete(17)``; nothing is clipped or rounded;
* **seeding**: crafter draws episode ``k``'s world from ``hash((seed, k)) % (2**31 - 1)`` where
  ``seed`` is the constructor's. ``reset(seed=s)`` sets that seed to ``s`` and the episode counter to
  0 (no new ``crafter.Env`` is built: only the two fields crafter reads at reset change), so the first
  episode after ``reset(seed=s)`` is exactly the world of ``crafter.Env(seed=s).reset()``, and later
  ``reset()`` calls continue the same reproducible sequence (episode 2, 3, ... of seed ``s``). A
  first ``reset()`` without a seed draws crafter's seed from gymnasium's ``np_random`` (itself seeded
  from the OS), so unseeded runs differ. Everything random in a crafter episode (world generation,
  creatures, spawning, the sapling draw, the night noise) comes from that world seed. **Fixed crafter
  bug:** plain crafter is not reproducible beyond ~10 steps even with a seed, because it picks the
  creature to despawn from a ``set`` ordered by memory address; we give each world insertion-ordered
  chunk sets (:func:`_make_world_deterministic`), so an episode is a function of its seed and the
  actions. Up to the first despawn, frames equal plain ``crafter.Env(seed=s)``'s;
* **terminated** when the player dies (health 0, crafter's ``discount == 0``); **truncated** when
  ``length`` steps have passed without death (crafter's time limit; if both happen on the same step
  the step counts as terminated only). Stepping a finished episode raises ``RuntimeError``;
* **info**, every step: crafter's own ``inventory``, ``achievements`` (counts so far this episode),
  ``discount``, ``semantic``, ``player_pos``; plus ``unlocked`` (tuple of achievement names unlocked
  for the first time this episode on this step) and ``task_reward`` (crafter's reward: +1 per first
  unlock, +-0.1 per health point gained/lost). The last step of an episode also carries
  ``episode_achievements``: the sorted tuple of every achievement unlocked in the episode;
* **reward-free variant** (``reward=False``, id ``vpt_gym/CrafterNoReward-v1``): the reward is always
  0.0 and the task reward stays in ``info["task_reward"]``.

``render_mode="rgb_array"``: :meth:`CrafterEnv.render` returns the current frame (the observation).
``gym.make("vpt_gym/Crafter-v1", render_mode="human")`` shows the frames in a window where a display
exists (:mod:`vpt_gym.envs.render_modes`), and ``env.spec.max_episode_steps`` is ``length``
(:func:`registry_entry_point`).
The underlying simulator is :attr:`CrafterEnv.crafter` (its ``_world`` and ``_player`` are what a
scripted demonstrator reads, see ``agents.crafter_demonstrator``).

Example::

    >>> from vpt_gym.envs.crafter import make
    >>> env = make()
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype, env.action_space
    ((64, 64, 3), dtype('uint8'), Discrete(17))
    >>> obs, reward, terminated, truncated, info = env.step(ACTION_NAMES.index("do"))
    >>> sorted(info["achievements"])[:2]
    ['collect_coal', 'collect_diamond']
"""
from __future__ import annotations

import collections
import numbers
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vpt_gym.optional import import_optional

__all__ = [
    "ACHIEVEMENTS",
    "ACTION_NAMES",
    "CrafterEnv",
    "INSTALL_HINT",
    "make",
    "registry_entry_point",
    "validate_action",
]

INSTALL_HINT = 'pip install -e ".[crafter]"  (in the vpt-gym checkout; crafter 1.8.3 with opensimplex==0.3)'

#: crafter's 17 actions, in the order of its ``Discrete(17)`` (``crafter/data.yaml``).
ACTION_NAMES: tuple[str, ...] = (
    "noop",
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "do",
    "sleep",
    "place_stone",
    "place_table",
    "place_furnace",
    "place_plant",
    "make_wood_pickaxe",
    "make_stone_pickaxe",
    "make_iron_pickaxe",
    "make_wood_sword",
    "make_stone_sword",
    "make_iron_sword",
)

#: crafter's 22 achievements, in its order (``crafter/data.yaml``).
ACHIEVEMENTS: tuple[str, ...] = (
    "collect_coal",
    "collect_diamond",
    "collect_drink",
    "collect_iron",
    "collect_sapling",
    "collect_stone",
    "collect_wood",
    "defeat_skeleton",
    "defeat_zombie",
    "eat_cow",
    "eat_plant",
    "make_iron_pickaxe",
    "make_iron_sword",
    "make_stone_pickaxe",
    "make_stone_sword",
    "make_wood_pickaxe",
    "make_wood_sword",
    "place_furnace",
    "place_plant",
    "place_stone",
    "place_table",
    "wake_up",
)

_SEED_HIGH = 2**31 - 1  # crafter's own seed range


def _import_crafter() -> Any:
    return import_optional("crafter", "crafter", how=INSTALL_HINT)


class _InsertionOrderedSet:
    """A set that iterates in insertion order (a dict's keys): what crafter's chunk sets need to be
    reproducible (see :func:`_make_world_deterministic`)."""

    def __init__(self) -> None:
        self._items: dict[Any, None] = {}

    def add(self, item: Any) -> None:
        self._items[item] = None

    def remove(self, item: Any) -> None:
        del self._items[item]

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: Any) -> bool:
        return item in self._items


def _make_world_deterministic(world: Any) -> None:
    """Fix crafter 1.8.3's one source of irreproducibility (a bug of crafter, not of the seed).

    ``engine.World`` keeps the creatures of each 12x12 chunk in a plain ``set``, whose iteration order
    follows the objects' memory addresses; ``Env._balance_object`` lists a chunk's creatures from that
    set and despawns ``creatures[random.randint(len)]``. So the same seed despawns a different cow or
    zombie from run to run, and episodes diverge within tens of steps (measured: a fixed action
    sequence on seed 0 gave different frames from step 12 on, in one process). After each
    ``World.reset`` the chunk table is replaced by one of insertion-ordered sets, which makes the
    order, and so the episode, a function of the seed alone. Nothing else in the world changes.
    """
    original_reset = world.reset

    def reset(seed: int | None = None) -> None:
        original_reset(seed=seed)
        world._chunks = collections.defaultdict(_InsertionOrderedSet)

    world.reset = reset
    world._chunks = collections.defaultdict(_InsertionOrderedSet)


def validate_action(action: Any, n: int = len(ACTION_NAMES)) -> int:
    """Return ``action`` as a Python ``int`` in ``[0, n)`` or raise ``ValueError``.

    Accepted: a Python/numpy integer, or a 0-d / one-element integer array. Rejected (``ValueError``
    naming the value and ``Discrete(n)``): bools, floats (even integral ones, and NaN), strings,
    ``None``, arrays with more than one element or a non-integer dtype, and out-of-range indices.

    :param action: the action given to ``step``.
    :param n: the number of actions.
    """
    expected = f"an integer action of Discrete({n}), i.e. in [0, {n - 1}]"
    value: Any = action
    if isinstance(value, np.ndarray):
        if value.size != 1 or not np.issubdtype(value.dtype, np.integer):
            raise ValueError(
                f"Invalid action {action!r} (dtype {value.dtype}, shape {value.shape}): expected {expected}"
            )
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"Invalid action {action!r} of type {type(action).__name__}: expected {expected}")
    index = int(value)
    if not 0 <= index < n:
        raise ValueError(f"Invalid action {action!r}: out of range, expected {expected}")
    return index


class CrafterEnv(gym.Env[np.ndarray, np.int64]):
    """``crafter.Env`` behind the gymnasium 1.x API (see the module docstring for every rule).

    :param reward: ``True`` for crafter's reward; ``False`` for the reward-free variant (reward 0.0,
        crafter's reward in ``info["task_reward"]``).
    :param size: observation height and width in pixels.
    :param length: steps per episode before truncation (crafter's ``length``; 10000 in the paper).
    :param area: world size in cells (crafter's default 64x64).
    :param view: view grid in cells (crafter's default 9x9: a 9x7 local view plus 2 inventory rows).
    :param render_mode: ``None`` or ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        *,
        reward: bool = True,
        size: int = 64,
        length: int = 10000,
        area: tuple[int, int] = (64, 64),
        view: tuple[int, int] = (9, 9),
        render_mode: str | None = None,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 9:
            raise ValueError(f"size must be an integer >= 9 (pixels), got {size!r}")
        if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
            raise ValueError(f"length must be a positive integer (steps), got {length!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(
                f"CrafterEnv's render_mode must be None or 'rgb_array', got {render_mode!r}"
                + (" (for a window use gym.make('vpt_gym/Crafter-v1', render_mode='human'))"
                   if render_mode == "human" else "")
            )
        crafter = _import_crafter()
        self.reward_enabled = bool(reward)
        self.size = int(size)
        self.length = int(length)
        self.render_mode = render_mode
        # seed=0 is a placeholder: reset() always sets the seed (see the module docstring).
        self.crafter = crafter.Env(
            area=tuple(area), view=tuple(view), size=(self.size, self.size),
            reward=True, length=self.length, seed=0,
        )
        _make_world_deterministic(self.crafter._world)
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._crafter_seed: int | None = None
        self._frame: np.ndarray | None = None
        self._done = True

    @property
    def action_names(self) -> tuple[str, ...]:
        """crafter's action names in index order (same as :data:`ACTION_NAMES`)."""
        return ACTION_NAMES

    @property
    def world(self) -> Any:
        """crafter's ``engine.World`` of the current episode (materials, objects)."""
        return self.crafter._world

    @property
    def player(self) -> Any:
        """crafter's ``objects.Player`` of the current episode (position, facing, inventory)."""
        return self.crafter._player

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._crafter_seed = int(seed)
            self.crafter._seed = self._crafter_seed
            self.crafter._episode = 0  # crafter.reset() increments it: episode 1 of this seed
        elif self._crafter_seed is None:
            self._crafter_seed = int(self.np_random.integers(0, _SEED_HIGH))
            self.crafter._seed = self._crafter_seed
            self.crafter._episode = 0
        obs = self.crafter.reset()
        self._frame = np.array(obs, dtype=np.uint8, order="C", copy=True)
        self._done = False
        player = self.crafter._player
        info = {
            "inventory": dict(player.inventory),
            "achievements": dict(player.achievements),
            "discount": 1.0,
            "player_pos": np.array(player.pos),
            "unlocked": (),
            "task_reward": 0.0,
            "crafter_seed": self._crafter_seed,
            "crafter_episode": self.crafter._episode,
        }
        return self._frame, info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        index = validate_action(action, self.action_space.n)
        if self._done:
            raise RuntimeError("step() called on a finished (or never started) episode: call reset() first")
        before = set(self.crafter._unlocked)
        obs, task_reward, _, info = self.crafter.step(index)
        self._frame = np.array(obs, dtype=np.uint8, order="C", copy=True)
        terminated = bool(info["discount"] == 0.0)
        truncated = (not terminated) and self.crafter._step >= self.length
        info["player_pos"] = np.array(info["player_pos"])  # crafter returns the player's own array
        info["task_reward"] = float(info["reward"])
        del info["reward"]
        info["unlocked"] = tuple(sorted(set(self.crafter._unlocked) - before))
        if terminated or truncated:
            self._done = True
            info["episode_achievements"] = tuple(
                sorted(name for name, count in info["achievements"].items() if count > 0)
            )
        reward = float(task_reward) if self.reward_enabled else 0.0
        return self._frame, reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._frame is None:
            raise RuntimeError("render() before reset(): no frame yet")
        return self._frame.copy()


def make(
    *,
    reward: bool = True,
    size: int = 64,
    length: int = 10000,
    render_mode: str | None = None,
    area: tuple[int, int] = (64, 64),
    view: tuple[int, int] = (9, 9),
) -> CrafterEnv:
    """Build a Crafter env (``vpt_gym/Crafter-v1``; ``reward=False``: ``vpt_gym/CrafterNoReward-v1``).

    :param reward: crafter's reward (``True``) or always 0.0 with the reward kept in
        ``info["task_reward"]`` (``False``).
    :param size: observation size in pixels (64 in the Crafter paper).
    :param length: episode length in steps before truncation (10000 in the Crafter paper).
    :param render_mode: ``None`` or ``"rgb_array"``.
    :param area: world size in cells.
    :param view: crafter's view grid in cells.
    :raises vpt_gym.optional.MissingDependency: when crafter is not installed.
    """
    return CrafterEnv(
        reward=reward, size=size, length=length, render_mode=render_mode, area=area, view=view
    )


def registry_entry_point(*, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """What ``gym.make("vpt_gym/Crafter-v1")`` builds: :func:`make` with the episode limit (``length``)
    in ``spec.max_episode_steps`` and ``render_mode="human"`` (a window, where a display exists).

    :param render_mode: ``None``, ``"rgb_array"`` or ``"human"``.
    :param kwargs: the other arguments of :func:`make`.
    """
    from vpt_gym.envs.episode_limit import EpisodeLimitSpec
    from vpt_gym.envs.render_modes import check_render_mode, frame_render_mode, show_in_window

    check_render_mode(render_mode)
    env = make(render_mode=frame_render_mode(render_mode), **kwargs)
    return EpisodeLimitSpec(show_in_window(env, render_mode), env.length)

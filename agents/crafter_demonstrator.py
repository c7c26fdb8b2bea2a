"""A scripted Crafter demonstrator: the "contractor" whose episodes stand in for human Minecraft videos.

VPT hires contractors who watch the screen and play. Here a scripted player does the same job on
Crafter (``vpt_gym.envs.crafter``): it reads crafter's internal state, limited to what the screen
shows, and plays the early tech tree. Its episodes (frames + actions) feed the IDM / BC path.

What it perceives (honesty rules):

* materials: it remembers every cell that has been on screen (crafter's 9x7 local view around the
  player) and sees the current material of cells on screen now; cells never on screen are unknown.
  Remembered cells are not refreshed when off screen (a table an arrow broke is only noticed on return);
* creatures (cows, zombies, skeletons, plants): only those on screen now, plus where it last saw a
  cow (to go back there when hungry);
* its own inventory (shown in the screen's inventory rows), facing and position.

How it plays, one rule list per step, first match wins:

1. a zombie or skeleton on a 4-neighbour cell: face it and hit it;
2. asleep: noop (crafter keeps the player asleep until energy is full or it gets hurt);
3. drink <= 2 or food <= 2: drink at the nearest known water / hunt the nearest visible cow until
   drink / food is back to 9 / >= 6 (exploring when none is known);
4. energy <= 3 (until 9), or health <= 4 (until 8): dig a 2-cell shelter into stone and seal its
   entrance with a stone (:meth:`CrafterDemonstrator._shelter_sites`), then sleep there (or wait, when
   energy is full). Zombies hit a sleeping player for 7, so sleeping in the open is a last resort
   (energy <= 1 and no shelter site within reach). Optionally (``night=0.4``; off by default) it also
   shelters whenever the screen is dark; drink / food <= 4 are then refilled as in 3;
5. the tech tree, in order: wood (up to what the next tools need), table, wooden pickaxe and sword,
   stone, stone pickaxe and sword, place stone, coal, furnace (next to a table), iron, iron pickaxe and
   sword, diamond; with cheap side goals when in reach: drink (drink <= 6 or never drunk), eat a cow
   (food <= 6 or never eaten), collect a sapling and plant it, eat the plant when ripe;
6. nothing to do: explore.

Movement is a Dijkstra search over remembered cells (grass, sand and path cost 1; with a pickaxe,
stone costs 3 to dig through; cells within 2 of a visible zombie cost 4 more; lava, water, trees and
creatures are never entered). Unknown goals are
found by walking to the nearest frontier (a known walkable cell next to an unknown one). If the
player has not moved for 8 steps while trying to, it makes a random safe move.

Episodes come back as arrays (:class:`DemoEpisode`): ``frames[t]`` is the observation the demonstrator
saw before choosing ``actions[t]`` (so ``frames`` and ``actions`` have the same length ``T``), plus the
final observation and the achievements unlocked. :func:`write_episode` writes one in the contractor
layout (video + per-step jsonl, the ``"crafter"`` action codec), which the VPT pipeline reads with the
same code as Minecraft recordings (``agents.vpt.contractor.read_pair(..., action_codec="crafter")``).

Example::

    >>> from vpt_gym.envs.crafter import make
    >>> from agents.crafter_demonstrator import run_demonstrator
    >>> episodes = run_demonstrator(make(length=300), n_episodes=1, seed=0)
    >>> episodes[0].frames.shape[1:], episodes[0].actions.dtype
    ((64, 64, 3), dtype('int64'))
    >>> "collect_wood" in episodes[0].achievements
    True

Measured success rates: run ``python -m agents.crafter_demonstrator --episodes 20 --length 1000``
(prints the demonstrator's and a random policy's per-achievement success rates and Crafter scores,
measured in the same run). On seeds 0-19, 1000-step episodes: Crafter score 55.2% (random 1.2%);
100% for wood, table, wooden and stone pickaxe and sword, stone, drink, cow, zombie, sapling, plant;
95% place stone, 90% coal, 75% furnace, 65% iron, 60% wake up, 50% skeleton, 30% iron pickaxe, 10%
iron sword, 5% eat plant, 0% diamond; 14 of 20 episodes end in death before step 1000 (zombies at
night, starvation, arrows). Runs of the same code differ only by seed; across small rule changes the
score moved between 54% and 58%, so read it as about 55 +- 3. These 1000-step figures are not the
Crafter paper's (10000-step episodes, 1M training steps).
"""
from __future__ import annotations

import argparse
import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from vpt_gym.envs.crafter import ACHIEVEMENTS, ACTION_NAMES, CrafterEnv
from vpt_gym.number_checks import number_type

__all__ = ["CrafterDemonstrator", "DemoEpisode", "run_demonstrator", "run_random", "compare", "write_episode"]

ACTION = {name: index for index, name in enumerate(ACTION_NAMES)}
DIRECTIONS: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))
MOVE = {(-1, 0): ACTION["move_left"], (1, 0): ACTION["move_right"], (0, -1): ACTION["move_up"],
        (0, 1): ACTION["move_down"]}
WALKABLE = ("grass", "sand", "path")
VIEW_RADIUS = (4, 3)  # crafter's local view: 9 cells wide, 7 high, player in the middle
UNKNOWN = -1
DIG_COST = 3  # face + do + move, against 1 for a plain move
STUCK_STEPS = 8
STATION_REACH = 25  # path cost within which a table (and furnace) is used rather than a new one placed
SHELTER_REACH = 50  # path cost within which a shelter site is looked for
ZOMBIE_PENALTY = 4.0  # extra cost of cells within 2 (Chebyshev) of a visible zombie


@dataclass
class DemoEpisode:
    """One demonstrator episode.

    :param frames: ``(T, H, W, 3)`` uint8: ``frames[t]`` was seen before ``actions[t]``.
    :param actions: ``(T,)`` int64 crafter action indices.
    :param achievements: sorted names of the achievements unlocked in the episode.
    :param last_frame: the observation after the last action.
    :param task_return: sum of crafter's reward (``info["task_reward"]``) over the episode.
    :param terminated: the player died (else the episode was truncated by the time limit).
    :param seed: the ``reset`` seed of the episode.
    """

    frames: np.ndarray
    actions: np.ndarray
    achievements: tuple[str, ...]
    last_frame: np.ndarray
    task_return: float
    terminated: bool
    seed: int

    def __len__(self) -> int:
        return len(self.actions)


def _crafter_constants() -> Any:
    from vpt_gym.optional import import_optional

    return import_optional("crafter.constants", "crafter")


def _crafter_env(env: gym.Env) -> CrafterEnv:
    inner = env.unwrapped
    if not isinstance(inner, CrafterEnv):
        raise ValueError(
            "The demonstrator needs a vpt_gym Crafter env (vpt_gym.envs.crafter.CrafterEnv), "
            f"got {type(inner).__name__}"
        )
    return inner


class CrafterDemonstrator:
    """Scripted Crafter player (rules in the module docstring). Call :meth:`reset` at each episode start,
    then :meth:`act` once per step.

    :param rng: randomness for unsticking moves and ties.
    :param night: shelter whenever crafter's daylight is below this (0.4: about 110 of every 300
        steps); ``None`` (default) does not. Tried on seeds 0-5 at 1000 steps: with ``night=0.4`` all
        6 episodes ended in death (it left the shelter at night for food and water), without 4 of 6.
    """

    def __init__(self, rng: np.random.Generator | None = None, night: float | None = None) -> None:
        self.rng = rng if rng is not None else np.random.default_rng()
        self.night = night
        self.env: CrafterEnv | None = None
        self.known = np.zeros((0, 0), np.int16)
        self.mode: str | None = None  # "drink", "eat", "sleep", "rest" until the need is met
        self.shelter: list[Any] | None = None  # [entrance, direction, reached the far cell]
        self.plant_pos: tuple[int, int] | None = None
        self._last_pos: tuple[int, int] | None = None
        self._still = 0

    # ----------------------------------------------------------------------------- perception
    def reset(self, env: gym.Env) -> None:
        """Forget the previous episode; start perceiving ``env`` (a vpt_gym Crafter env, reset)."""
        self.env = _crafter_env(env)
        world = self.env.world
        self.ids = {name: index for index, name in world._mat_names.items() if name is not None}
        self.known = np.full(world.area, UNKNOWN, np.int16)
        place = _crafter_constants().place  # costs read from crafter's data.yaml
        self._table_wood = int(place["table"]["uses"]["wood"])
        self._furnace_stone = int(place["furnace"]["uses"]["stone"])
        self.mode = None
        self.plant_pos = None
        self.shelter: list[Any] | None = None
        self.cows_seen: set[tuple[int, int]] = set()
        self.plant_step = 0
        self._step = 0
        self._last_pos = None
        self._still = 0
        self._perceive()

    def _perceive(self) -> None:
        world, pos = self.env.world, self.env.player.pos
        (rx, ry), (w, h) = VIEW_RADIUS, world.area
        x0, x1 = max(0, pos[0] - rx), min(w, pos[0] + rx + 1)
        y0, y1 = max(0, pos[1] - ry), min(h, pos[1] + ry + 1)
        self.known[x0:x1, y0:y1] = world._mat_map[x0:x1, y0:y1]
        self.visible_objects = [
            obj for obj in world.objects
            if obj is not self.env.player
            and abs(obj.pos[0] - pos[0]) <= rx and abs(obj.pos[1] - pos[1]) <= ry
        ]
        # where cows were last seen: forget the cells now on screen, then add the cows on screen
        self.cows_seen = {
            cell for cell in self.cows_seen if not (x0 <= cell[0] < x1 and y0 <= cell[1] < y1)
        } | {(int(o.pos[0]), int(o.pos[1])) for o in self.visible_objects if type(o).__name__ == "Cow"}

    def _mask(self, *names: str) -> np.ndarray:
        ids = [self.ids[n] for n in names if n in self.ids]
        return np.isin(self.known, ids)

    def _objects(self, kind: str) -> list[Any]:
        return [obj for obj in self.visible_objects if type(obj).__name__ == kind]

    # ----------------------------------------------------------------------------- planning
    def _plan(self, goal: np.ndarray, dig: bool, max_cost: float = np.inf) -> list[tuple[int, int]] | None:
        """Cheapest path (list of cells after the start) to any cell of ``goal``; None if unreachable."""
        cost = np.full(self.known.shape, np.inf)
        cost[self._mask(*WALKABLE)] = 1.0
        if dig and self.env.player.inventory["wood_pickaxe"] > 0:
            cost[self._mask("stone")] = DIG_COST
        for obj in self.visible_objects:
            if type(obj).__name__ == "Zombie":  # keep a distance: zombies hit first when they get adjacent
                x, y = int(obj.pos[0]), int(obj.pos[1])
                near = cost[max(x - 2, 0):x + 3, max(y - 2, 0):y + 3]
                near[np.isfinite(near)] += ZOMBIE_PENALTY
        for obj in self.visible_objects:
            cost[tuple(obj.pos)] = np.inf
        start = tuple(int(v) for v in self.env.player.pos)
        if goal[start]:
            return []
        dist = {start: 0.0}
        parent: dict[tuple[int, int], tuple[int, int]] = {}
        heap = [(0.0, start)]
        w, h = self.known.shape
        while heap:
            d, cell = heapq.heappop(heap)
            if d > dist.get(cell, np.inf) or d > max_cost:
                continue
            if goal[cell]:
                path = [cell]
                while path[-1] in parent and parent[path[-1]] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            for dx, dy in DIRECTIONS:
                nxt = (cell[0] + dx, cell[1] + dy)
                if not (0 <= nxt[0] < w and 0 <= nxt[1] < h):
                    continue
                nd = d + cost[nxt]
                if nd < dist.get(nxt, np.inf):
                    dist[nxt] = nd
                    parent[nxt] = cell
                    heapq.heappush(heap, (nd, nxt))
        return None

    def _adjacent_to(self, targets: np.ndarray, diagonal: bool = False) -> np.ndarray:
        """Cells next to a target cell (4-neighbourhood, or 8 with ``diagonal``)."""
        out = np.zeros_like(targets)
        shifts = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]
        if not diagonal:
            shifts = list(DIRECTIONS)
        for dx, dy in shifts:
            shifted = np.zeros_like(targets)
            xs = slice(max(dx, 0), targets.shape[0] + min(dx, 0))
            xt = slice(max(-dx, 0), targets.shape[0] + min(-dx, 0))
            ys = slice(max(dy, 0), targets.shape[1] + min(dy, 0))
            yt = slice(max(-dy, 0), targets.shape[1] + min(-dy, 0))
            shifted[xt, yt] = targets[xs, ys]
            out |= shifted
        return out

    def _frontier(self) -> np.ndarray:
        unknown = self.known == UNKNOWN
        return self._mask(*WALKABLE) & self._adjacent_to(unknown)

    # ----------------------------------------------------------------------------- acting
    def _face_and(self, target: tuple[int, int], action: int) -> int:
        """``action`` if facing ``target`` (a 4-neighbour), else turn/step toward it."""
        pos = self.env.player.pos
        direction = (int(target[0] - pos[0]), int(target[1] - pos[1]))
        if tuple(self.env.player.facing) == direction:
            return action
        return MOVE[direction]

    def _step_along(self, path: list[tuple[int, int]]) -> int:
        nxt = path[0]
        if self.known[nxt] == self.ids.get("stone"):
            return self._face_and(nxt, ACTION["do"])
        pos = self.env.player.pos
        return MOVE[(int(nxt[0] - pos[0]), int(nxt[1] - pos[1]))]

    def _interact(self, targets: np.ndarray, action: int, dig: bool = True, max_cost: float = np.inf) -> int | None:
        """Walk next to a ``targets`` cell, face it and do ``action``; None if no target is reachable."""
        if not targets.any():
            return None
        pos = tuple(int(v) for v in self.env.player.pos)
        for dx, dy in DIRECTIONS:
            cell = (pos[0] + dx, pos[1] + dy)
            if 0 <= cell[0] < targets.shape[0] and 0 <= cell[1] < targets.shape[1] and targets[cell]:
                return self._face_and(cell, action)
        path = self._plan(self._adjacent_to(targets), dig=dig, max_cost=max_cost)
        if not path:
            return None
        return self._step_along(path)

    def _goto(self, goal: np.ndarray, action: int, max_cost: float = np.inf) -> int | None:
        """``action`` when standing on a ``goal`` cell, else one step toward the nearest; None if unreachable."""
        path = self._plan(goal, dig=True, max_cost=max_cost)
        if path is None:
            return None
        return action if not path else self._step_along(path)

    def _explore(self) -> int:
        path = self._plan(self._frontier(), dig=True)
        if path:
            return self._step_along(path)
        return self._random_move()

    def _random_move(self) -> int:
        pos = self.env.player.pos
        safe = [d for d in DIRECTIONS if self.env.world[(pos[0] + d[0], pos[1] + d[1])][0] in WALKABLE]
        options = safe or list(DIRECTIONS)
        return MOVE[options[self.rng.integers(len(options))]]

    def _facing_cell(self) -> tuple[tuple[int, int], str | None, Any]:
        pos, facing = self.env.player.pos, self.env.player.facing
        cell = (int(pos[0] + facing[0]), int(pos[1] + facing[1]))
        material, obj = self.env.world[cell]
        return cell, material, obj

    def _place(self, action: int, where: tuple[str, ...]) -> int:
        """Place something on the facing cell if it suits, else turn/step to face a cell that does."""
        _, material, obj = self._facing_cell()
        if material in where and obj is None:
            return action
        return self._random_move()

    # ----------------------------------------------------------------------------- the rules
    def act(self, env: gym.Env | None = None) -> int:
        """The action for the current step (call after ``reset`` and after every ``env.step``)."""
        if env is not None and _crafter_env(env) is not self.env:
            self.reset(env)
        self._perceive()
        self._step += 1
        action = self._choose()
        pos = tuple(int(v) for v in self.env.player.pos)
        moving = action in MOVE.values()
        self._still = self._still + 1 if (moving and pos == self._last_pos) else 0
        self._last_pos = pos
        if self._still >= STUCK_STEPS:
            self._still = 0
            return self._random_move()
        return action

    def _choose(self) -> int:
        player = self.env.player
        inv = player.inventory
        pos = player.pos
        # 1. fight hostiles on 4-neighbour cells
        for obj in self._objects("Zombie") + self._objects("Skeleton"):
            if abs(obj.pos[0] - pos[0]) + abs(obj.pos[1] - pos[1]) == 1:
                return self._face_and(tuple(obj.pos), ACTION["do"])
        # 2. asleep: crafter keeps sleeping by itself
        if player.sleeping:
            return ACTION["noop"]
        # 3. needs that cannot wait
        if inv["drink"] <= 2 or (self.mode == "drink" and inv["drink"] < 9):
            self.mode = "drink"
            return self._drink()
        if inv["food"] <= 2 or (self.mode == "eat" and inv["food"] < 6):
            self.mode = "eat"
            return self._eat()
        # 4. tired or hurt: seal oneself in a shelter, then sleep (or wait) there
        if inv["energy"] <= 3 or (self.mode == "sleep" and inv["energy"] < 9):
            self.mode = "sleep"
            return self._rest(sleep=True, fallback=inv["energy"] <= 1)
        if inv["health"] <= 4 or (self.mode == "rest" and inv["health"] < 8):
            self.mode = "rest"
            return self._rest(sleep=inv["energy"] < 9, fallback=False)
        if self.night is not None and self.env.world.daylight < self.night:  # the screen darkens and zombies multiply: shelter
            self.mode = "night"
            return self._rest(sleep=inv["energy"] < 9, fallback=False)
        self.shelter = None
        # 5. needs
        if inv["drink"] <= 4:
            self.mode = "drink"
            return self._drink()
        if inv["food"] <= 4:
            self.mode = "eat"
            return self._eat()
        self.mode = None
        # 6. the tech tree
        action = self._tech_tree()
        # 7. explore
        return self._explore() if action is None else action

    def _drink(self) -> int:
        action = self._interact(self._mask("water"), ACTION["do"])
        return self._explore() if action is None else action

    def _eat(self) -> int:
        action = self._hunt()
        return self._explore() if action is None else action

    def _rest(self, sleep: bool, fallback: bool) -> int:
        """In a sealed shelter: sleep (or noop). Else walk to / build one; without a site in reach,
        sleep on the spot if ``fallback`` (else carry on with the tech tree)."""
        then = ACTION["sleep"] if sleep else ACTION["noop"]
        action = self._shelter(then)
        if action is not None:
            return action
        if fallback:
            return then
        action = self._tech_tree()
        return self._explore() if action is None else action

    def _shelter_sites(self) -> dict[tuple[int, int], np.ndarray]:
        """For each direction d: cells E from which a 2-cell shelter E+d, E+2d can be dug and sealed.

        E+d and E+2d must be empty walkable cells or stone (dug with the pickaxe); their side cells and
        E+3d must be blocked (not grass/sand/path, where creatures walk, nor water/lava, which
        skeletons' arrows fly over: a first version slept next to water and was shot); the player then
        steps E -> E+d -> E+2d -> E+d, now facing E, and places a stone on E.
        """
        walkable = self._mask(*WALKABLE)
        stone = self._mask("stone") if self.env.player.inventory["wood_pickaxe"] > 0 else np.zeros_like(walkable)
        free = walkable.copy()
        for obj in self.visible_objects:
            free[tuple(obj.pos)] = False
        diggable = free | stone
        # blocked for creatures and for arrows (which fly over water and lava)
        blocked = (self.known != UNKNOWN) & ~self._mask(*WALKABLE, "water", "lava")
        have_stone = self.env.player.inventory["stone"] > 0

        def at(mask: np.ndarray, offset: tuple[int, int], fill: bool) -> np.ndarray:
            out = np.full_like(mask, fill)
            w, h = mask.shape
            dx, dy = offset
            out[max(-dx, 0):w - max(dx, 0), max(-dy, 0):h - max(dy, 0)] = mask[
                max(dx, 0):w - max(-dx, 0), max(dy, 0):h - max(-dy, 0)]
            return out

        sites = {}
        for d in DIRECTIONS:
            e = (d[1], d[0])
            s1, s2, s3 = d, (2 * d[0], 2 * d[1]), (3 * d[0], 3 * d[1])
            site = free & at(diggable, s1, False) & at(diggable, s2, False) & at(blocked, s3, True)
            for base in (s1, s2):
                for sign in (1, -1):
                    site &= at(blocked, (base[0] + sign * e[0], base[1] + sign * e[1]), True)
            if not have_stone:
                site &= at(stone, s1, False) | at(stone, s2, False)
            sites[d] = site
        return sites

    def _shelter(self, then: int) -> int | None:
        """One step of getting into a sealed shelter and then doing ``then``; None if no site is in reach."""
        player, world = self.env.player, self.env.world
        pos = (int(player.pos[0]), int(player.pos[1]))
        if self.shelter is None:
            sites = self._shelter_sites()
            goal = np.zeros(self.known.shape, bool)
            for site in sites.values():
                goal |= site
            path = self._plan(goal, dig=True, max_cost=SHELTER_REACH)
            if path is None:
                return None
            end = path[-1] if path else pos
            d = next(d for d, site in sites.items() if site[end])
            self.shelter = [end, d, False]
        entrance, d, reached = self.shelter
        s1 = (entrance[0] + d[0], entrance[1] + d[1])
        s2 = (s1[0] + d[0], s1[1] + d[1])
        back = (-d[0], -d[1])
        if pos == s1 and world[entrance][0] not in WALKABLE:
            return then  # sealed in
        if pos == s2:
            self.shelter[2] = True
            return MOVE[back]
        if pos == s1 and reached:
            if tuple(player.facing) != back:
                return MOVE[d]  # step to s2 and back again to face the entrance
            if world[entrance][1] is not None:
                return ACTION["do"]  # a creature in the doorway: hit it
            if player.inventory["stone"] < 1:
                self.shelter = None
                return None
            return ACTION["place_stone"]
        if pos in (entrance, s1):
            ahead = s1 if pos == entrance else s2
            if world[ahead][0] == "stone":
                return self._face_and(ahead, ACTION["do"])
            if world[ahead][0] in WALKABLE and world[ahead][1] is None:
                return MOVE[d]
            self.shelter = None  # something moved in: choose another site
            return None
        target = np.zeros(self.known.shape, bool)
        target[entrance] = True
        path = self._plan(target, dig=True, max_cost=SHELTER_REACH + 10)
        if not path:
            self.shelter = None
            return None
        return self._step_along(path)

    def _hunt(self, max_cost: float = np.inf) -> int | None:
        """Hit the nearest visible cow; else walk to where a cow was last seen."""
        cows = np.zeros(self.known.shape, bool)
        for cow in self._objects("Cow"):
            cows[tuple(cow.pos)] = True
        action = self._interact(cows, ACTION["do"], dig=False, max_cost=max_cost)
        if action is not None or not self.cows_seen or np.isfinite(max_cost):
            return action
        remembered = np.zeros(self.known.shape, bool)
        for cell in self.cows_seen:
            remembered[cell] = True
        return self._goto(remembered & self._mask(*WALKABLE), ACTION["noop"])

    def _near(self, *names: str) -> bool:
        nearby, _ = self.env.world.nearby(self.env.player.pos, 1)
        return all(name in nearby for name in names)

    def _station_cells(self, *stations: str) -> np.ndarray:
        """Known walkable cells whose 3x3 neighbourhood holds every station (crafter's ``nearby``)."""
        goal = self._mask(*WALKABLE)
        for station in stations:
            goal &= self._adjacent_to(self._mask(station), diagonal=True)
        return goal

    def _make(self, action: int, *stations: str, max_cost: float = 0) -> int | None:
        """Make a tool next to ``stations`` (table, furnace): walk into their 3x3 neighbourhood first."""
        if self._near(*stations):
            return action
        return self._goto(self._station_cells(*stations), action, max_cost=max_cost or STATION_REACH)

    def _tech_tree(self) -> int | None:
        inv = self.env.player.inventory
        done = self.env.player.achievements
        table_known = self._mask("table").any()

        def collect(*materials: str, max_cost: float = np.inf) -> int | None:
            return self._interact(self._mask(*materials), ACTION["do"], max_cost=max_cost)

        def table_then(action: int, wood_needed: int, *stations: str) -> int | None:
            """Make at a known table, or place a new one when none is near and there is wood for both."""
            made = self._make(action, "table", *stations)
            if made is not None:
                return made
            if stations:  # needs a furnace too: handled by the furnace step
                return None
            if inv["wood"] >= wood_needed + self._table_wood:
                return self._place(ACTION["place_table"], ("grass", "sand", "path"))
            return collect("tree")

        # cheap side goals when in reach
        if done["collect_drink"] == 0 and inv["drink"] < 9:
            action = self._interact(self._mask("water"), ACTION["do"], max_cost=8)
            if action is not None:
                return action
        if inv["drink"] <= 6:
            action = self._interact(self._mask("water"), ACTION["do"], max_cost=6)
            if action is not None:
                return action
        if (done["eat_cow"] == 0 and inv["wood_pickaxe"] > 0 and inv["food"] < 9) or inv["food"] <= 6:
            action = self._hunt(max_cost=8)
            if action is not None:
                return action
        if self.plant_pos is not None and done["eat_plant"] == 0:
            # the sapling looks different once ripe: check it when on screen, go back to look after a while
            plant = next((o for o in self._objects("Plant") if tuple(o.pos) == self.plant_pos), None)
            on_screen = all(abs(self.plant_pos[i] - self.env.player.pos[i]) <= VIEW_RADIUS[i] for i in (0, 1))
            if on_screen and plant is None:
                self.plant_pos = None  # eaten by a creature or trampled
            elif (plant is not None and plant.ripe) or (plant is None and self._step - self.plant_step > 400):
                target = np.zeros(self.known.shape, bool)
                target[self.plant_pos] = True
                action = self._interact(target, ACTION["do"], dig=False, max_cost=30)
                if action is not None:
                    return action

        # the tree proper
        if inv["wood_pickaxe"] == 0:
            if inv["wood"] < 1 or (not table_known and inv["wood"] < self._table_wood + 2):
                return collect("tree")
            return table_then(ACTION["make_wood_pickaxe"], 1)
        if inv["wood_sword"] == 0:
            if inv["wood"] < 1:
                return collect("tree")
            return table_then(ACTION["make_wood_sword"], 1)
        if done["collect_sapling"] == 0 and inv["sapling"] == 0:
            return self._place(ACTION["do"], ("grass",))
        if inv["sapling"] > 0 and done["place_plant"] == 0:
            _, material, obj = self._facing_cell()
            if material == "grass" and obj is None:
                self.plant_pos, self.plant_step = self._facing_cell()[0], self._step
            return self._place(ACTION["place_plant"], ("grass",))
        if inv["stone_pickaxe"] == 0 or inv["stone_sword"] == 0:
            tool = "make_stone_pickaxe" if inv["stone_pickaxe"] == 0 else "make_stone_sword"
            if inv["wood"] < 1:
                return collect("tree")
            if inv["stone"] < 1:
                return collect("stone")
            return table_then(ACTION[tool], 1)
        if done["place_stone"] == 0:
            if inv["stone"] < 1:
                return collect("stone")
            return self._place(ACTION["place_stone"], ("grass", "sand", "path", "water", "lava"))
        if inv["coal"] < 1:
            return collect("coal")
        if not self._station_cells("table", "furnace").any():  # no table + furnace pair known: build one
            if inv["stone"] < self._furnace_stone:
                return collect("stone")
            if self._near("table"):
                return self._place(ACTION["place_furnace"], ("grass", "sand", "path"))
            return self._make(ACTION["noop"], "table")
        if inv["iron"] < 1:
            return collect("iron")
        if inv["wood"] < 1:
            return collect("tree")
        if inv["iron_pickaxe"] == 0:
            return self._make(ACTION["make_iron_pickaxe"], "table", "furnace")
        if inv["iron_sword"] == 0:
            if inv["coal"] < 1:
                return collect("coal")
            return self._make(ACTION["make_iron_sword"], "table", "furnace")
        return collect("diamond")


def _play(env: gym.Env, policy: Callable[[], int], seed: int) -> DemoEpisode:
    obs, _ = env.reset(seed=seed)
    frames, actions, task_return = [], [], 0.0
    terminated = truncated = False
    info: dict[str, Any] = {}
    while not (terminated or truncated):
        action = policy()
        frames.append(obs)
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        task_return += float(info["task_reward"])
    return DemoEpisode(
        frames=np.stack(frames).astype(np.uint8),
        actions=np.asarray(actions, np.int64),
        achievements=tuple(info["episode_achievements"]),
        last_frame=np.asarray(obs, np.uint8),
        task_return=task_return,
        terminated=bool(terminated),
        seed=seed,
    )


def _check_run_args(n_episodes: int, seed: int) -> None:
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, (int, np.integer)) or n_episodes < 1:
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")


def run_demonstrator(env: gym.Env, n_episodes: int, seed: int) -> list[DemoEpisode]:
    """Play ``n_episodes`` demonstrator episodes on ``env``; episode ``i`` is ``env.reset(seed=seed + i)``.

    The episode length is the env's (``make(length=...)``). Deterministic for a given ``seed``.

    :param env: a vpt_gym Crafter env (``vpt_gym.envs.crafter.make`` or ``gym.make("vpt_gym/Crafter-v1")``).
    :param n_episodes: number of episodes.
    :param seed: seed of the first episode (also seeds the demonstrator's own randomness).
    :return: one :class:`DemoEpisode` per episode.
    """
    _check_run_args(n_episodes, seed)
    _crafter_env(env)
    episodes = []
    for i in range(n_episodes):
        demonstrator = CrafterDemonstrator(np.random.default_rng(seed + i))

        def policy() -> int:
            return demonstrator.act(env)

        episodes.append(_play(env, policy, seed + i))
    return episodes


def run_random(env: gym.Env, n_episodes: int, seed: int) -> list[DemoEpisode]:
    """The uniform random policy (the Crafter paper's random baseline), same seeds as :func:`run_demonstrator`."""
    _check_run_args(n_episodes, seed)
    _crafter_env(env)
    episodes = []
    for i in range(n_episodes):
        rng = np.random.default_rng(seed + i)

        def policy() -> int:
            return int(rng.integers(len(ACTION_NAMES)))

        episodes.append(_play(env, policy, seed + i))
    return episodes


def write_episode(episode: DemoEpisode, stem: str | Path, fps: float = 10.0) -> tuple[Path, Path]:
    """Write an episode as a contractor pair ``<stem>.mp4`` + ``<stem>.jsonl`` (one line per frame: the action
    taken at that frame, by name and Crafter GUI key; see :mod:`agents.vpt.action_codecs`). Atomic: both
    files appear only once complete.

    :param episode: the episode (``frames[t]`` seen before ``actions[t]``).
    :param stem: output path without suffix.
    :param fps: video frame rate.
    :return: ``(video, jsonl)`` paths.
    """
    from agents.vpt.contractor import ContractorWriter

    with ContractorWriter(stem, fps=fps, action_codec="crafter") as writer:
        for frame, action in zip(episode.frames, episode.actions):
            writer.write(frame, {"action": int(action)})
    return writer.video_path, writer.jsonl_path


def compare(n_episodes: int = 20, length: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Demonstrator vs random on the same seeds: per-achievement success rates (%) and Crafter scores."""
    from vpt_gym.crafter_score import score_from_success_rates, success_rates
    from vpt_gym.envs.crafter import make

    results = {}
    for name, runner in (("demonstrator", run_demonstrator), ("random", run_random)):
        episodes = runner(make(length=length), n_episodes, seed)
        rates = success_rates([e.achievements for e in episodes])
        results[name] = {
            "success_rates": rates,
            "score": score_from_success_rates(rates),
            "mean_length": float(np.mean([len(e) for e in episodes])),
            "deaths": int(sum(e.terminated for e in episodes)),
            "mean_return": float(np.mean([e.task_return for e in episodes])),
        }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Crafter demonstrator vs random policy, same seeds")
    parser.add_argument("--episodes", type=number_type(integer=True, minimum=1), default=20,
                        help="episodes per policy (default 20)")
    parser.add_argument("--length", type=number_type(integer=True, minimum=1), default=1000,
                        help="longest episode in steps (default 1000)")
    parser.add_argument("--seed", type=number_type(integer=True, minimum=0), default=0,
                        help="seed of the first episode; episode i uses seed + i (default 0)")
    args = parser.parse_args(argv)
    results = compare(args.episodes, args.length, args.seed)
    demo, rand = results["demonstrator"], results["random"]
    last_seed = args.seed + args.episodes - 1
    print(f"{args.episodes} episodes of at most {args.length} steps, seeds {args.seed}..{last_seed}")
    print("| achievement | demonstrator % | random % |")
    print("|---|---|---|")
    for name in ACHIEVEMENTS:
        print(f"| {name} | {demo['success_rates'][name]:.0f} | {rand['success_rates'][name]:.0f} |")
    for key, label in (("score", "Crafter score %"), ("mean_return", "mean return"),
                       ("mean_length", "mean length"), ("deaths", "deaths")):
        print(f"| **{label}** | {demo[key]:.2f} | {rand[key]:.2f} |")


if __name__ == "__main__":
    main()

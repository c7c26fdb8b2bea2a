"""VPT's item tasks on MineRL: which items an episode obtained, and when (the ``vpt-minerl`` suite).

VPT reports, per item of the diamond tech tree, the share of episodes that obtained it. We read it from the
inventory in MineRL's observation: an item counts as obtained at the first step its inventory count becomes
> 0 (at reset: step 0). Categories cover MineRL's variants (any ``*_log`` is a log, any ``*_planks`` a plank).

The VPT wrappers drop the inventory (the policy sees only frames), so :class:`ItemProgress` sits right above
the gymnasium adapter, below :class:`~wrappers.vpt_observation.VPTObservationWrapper`; :func:`make_item_env`
builds that stack (the same as :func:`vpt_gym.envs.minerl.make` plus the tracker and the registered time
limit) and is the ``vpt-minerl`` suite's ``env_maker``.

Example::

    >>> first_obtained({"oak_log": 2, "dirt": 5}, {}, step=7)
    {'logs': 7}
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, SupportsFloat

import gymnasium as gym
import numpy as np

#: VPT's item tasks, in tech-tree order: name -> predicate on a MineRL inventory key.
ITEMS: dict[str, Callable[[str], bool]] = {
    "logs": lambda k: k == "log" or k.endswith("_log"),
    "planks": lambda k: k == "planks" or k.endswith("_planks"),
    "crafting_table": lambda k: k == "crafting_table",
    "wooden_pickaxe": lambda k: k == "wooden_pickaxe",
    "stone_pickaxe": lambda k: k == "stone_pickaxe",
    "iron_pickaxe": lambda k: k == "iron_pickaxe",
    "diamond": lambda k: k == "diamond",
}


def first_obtained(inventory: Mapping[str, Any], seen: dict[str, int], step: int) -> dict[str, int]:
    """Add to ``seen`` (item -> first step) the items whose count is > 0 in ``inventory`` at ``step``.

    :raises ValueError: for a negative or non-finite count.
    """
    for key, count in inventory.items():
        value = float(np.asarray(count))
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"inventory count of {key!r} must be a finite number >= 0, got {count!r}")
        if value <= 0:
            continue
        for item, matches in ITEMS.items():
            if item not in seen and matches(str(key)):
                seen[item] = step
    return seen


class ItemProgress(gym.Wrapper):
    """Track the first step each VPT item appears in the inventory; report it when the episode ends.

    On the step that ends an episode, ``info["episode_items"]`` is a tuple of ``(item, first step)`` pairs for
    the items obtained, in the order obtained (empty when none): a tuple, not a dict, so that gymnasium's
    vector envs keep it whole. The observation must be a dict with an ``"inventory"`` dict.

    Example::

        env = ItemProgress(MineRLCompat(factory))          # below VPTObservationWrapper
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._seen: dict[str, int] = {}
        self._t = 0

    def _inventory(self, obs: Any) -> Mapping[str, Any]:
        if not isinstance(obs, Mapping) or not isinstance(obs.get("inventory"), Mapping):
            keys = list(obs) if isinstance(obs, Mapping) else type(obs).__name__
            raise ValueError(f"ItemProgress needs MineRL observations with an 'inventory' dict, got {keys}")
        return obs["inventory"]

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._seen, self._t = {}, 0
        first_obtained(self._inventory(obs), self._seen, 0)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._t += 1
        if "error" not in info:  # after a lost connection the observation is a random sample
            first_obtained(self._inventory(obs), self._seen, self._t)
        if terminated or truncated:
            info = dict(info)
            info["episode_items"] = tuple(sorted(self._seen.items(), key=lambda kv: (kv[1], list(ITEMS).index(kv[0]))))
        return obs, reward, terminated, truncated, info


def make_item_env(env_id: str, *, size: int = 128, restart: bool = True, max_episode_steps: Optional[int] = None,
                  minerl_factory: Optional[Callable[[], Any]] = None, **kwargs: Any) -> gym.Env:
    """A VPT-wrapped MineRL env that also reports the items each episode obtained.

    :param env_id: a registered MineRL id, e.g. ``"vpt_gym/MineRLObtainDiamondShovel-v0"``.
    :param size: VPT frame size. :param restart: recreate Minecraft when it dies.
    :param max_episode_steps: episode length (default: the id's registered length).
    :param minerl_factory: builds the old-gym MineRL env (tests pass a double); default: the real MineRL.
    :param kwargs: more arguments of :func:`vpt_gym.envs.minerl.make`'s wrappers (``restart_every``,
        ``max_reset_retries``).
    """
    from functools import partial

    from vpt_gym.envs.minerl import MINERL_INSTALL_HELP, MineRLCompat, _make_real_minerl
    from vpt_gym.optional import import_optional
    from vpt_gym.registration import MINERL_TASKS
    from wrappers.restart import MineRLRestart
    from wrappers.vpt_action import VPTActionWrapper
    from wrappers.vpt_observation import VPTObservationWrapper

    minerl_id = env_id.split("/")[-1]
    if minerl_id not in MINERL_TASKS:
        raise ValueError(f"Unknown MineRL id {env_id!r}; expected one of {sorted(MINERL_TASKS)}")
    if minerl_factory is None:
        import_optional("minerl", "minerl", MINERL_INSTALL_HELP)
        minerl_factory = partial(_make_real_minerl, minerl_id)
    env: gym.Env = MineRLCompat(minerl_factory)
    if restart:
        env = MineRLRestart(env, restart_every=kwargs.pop("restart_every", None),
                            max_reset_retries=kwargs.pop("max_reset_retries", 3))
    if kwargs:
        raise TypeError(f"make_item_env got unexpected arguments {sorted(kwargs)}")
    limit = max_episode_steps if max_episode_steps is not None else MINERL_TASKS[minerl_id]
    if limit:  # below the tracker, so that the tracker sees the truncation
        env = gym.wrappers.TimeLimit(env, limit)
    env = ItemProgress(env)
    return VPTActionWrapper(VPTObservationWrapper(env, size=size))


def item_success(episodes: list[Optional[Mapping[str, int]]]) -> dict[str, dict[str, Any]]:
    """Per item: success rate (share of episodes that obtained it) and the mean first step of those that did.

    :param episodes: one ``{item: first step}`` per episode (None: the episode reported nothing, counted as
        obtaining nothing).
    :raises ValueError: for no episodes or an unknown item.
    """
    if not episodes:
        raise ValueError("item_success needs at least one episode")
    out = {}
    for ep in episodes:
        unknown = sorted(set(ep or {}) - set(ITEMS))
        if unknown:
            raise ValueError(f"unknown item(s) {unknown}; expected names from {list(ITEMS)}")
    for item in ITEMS:
        steps = [ep[item] for ep in episodes if ep and item in ep]
        out[item] = {"success_rate": len(steps) / len(episodes),
                     "mean_first_step": float(np.mean(steps)) if steps else None}
    return out

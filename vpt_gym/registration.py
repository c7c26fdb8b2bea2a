"""Every environment id of vpt-gym in one table, registered with gymnasium by string entry point.

Importing this module is cheap: it imports neither MineRL, dm_control nor torch. The factories named
by ``entry_point`` are imported by gymnasium at ``gym.make`` time.

Example::

    >>> import gymnasium as gym
    >>> import vpt_gym
    >>> "vpt_gym/MineRLBasaltFindCave-v0" in gym.registry
    True
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

NAMESPACE = "vpt_gym"


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment.

    :param name: the id without namespace, e.g. ``"MineRLBasaltFindCave-v0"``.
    :param entry_point: ``"module:callable"`` that builds the env.
    :param kwargs: keyword arguments passed to the entry point.
    :param max_episode_steps: gymnasium ``TimeLimit``; ``None`` where the env has no limit or
        enforces (and reports, in ``env.spec.max_episode_steps``) its own.
    :param family: which group of envs this belongs to (``minerl``, ``dmc``, ...).
    """

    name: str
    entry_point: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    family: str = ""

    @property
    def id(self) -> str:
        return f"{NAMESPACE}/{self.name}"


# MineRL 1.0 tasks that VPT targets (spec vpt.md section 10): (MineRL id, episode length in steps).
# HumanSurvival has no time limit.
MINERL_TASKS: dict[str, int | None] = {
    "MineRLHumanSurvival-v0": None,
    "MineRLBasaltFindCave-v0": 3600,
    "MineRLBasaltMakeWaterfall-v0": 6000,
    "MineRLBasaltCreateVillageAnimalPen-v0": 6000,
    "MineRLBasaltBuildVillageHouse-v0": 14400,
    "MineRLObtainDiamondShovel-v0": 18000,
}


def _minerl_entries() -> list[EnvEntry]:
    return [
        EnvEntry(
            name=minerl_id,
            entry_point="vpt_gym.envs.minerl:make",
            kwargs={"minerl_id": minerl_id},
            max_episode_steps=steps,
            family="minerl",
        )
        for minerl_id, steps in MINERL_TASKS.items()
    ]


def _dmc_entries() -> list[EnvEntry]:
    """GenRL's 35 tasks (``vpt_gym.tasks``): ``vpt_gym/<domain>-<task>-v0``.

    dm_control domains use ``vpt_gym.envs.dmc:make``, which ends episodes itself (truncated after
    1000 control steps = 500 agent steps), hence no ``TimeLimit``; kitchen uses
    ``vpt_gym.envs.kitchen:make`` (280 env steps = 140 agent steps). Both report their limit, in
    agent steps for the ``action_repeat`` given, as ``env.spec.max_episode_steps``
    (``vpt_gym.envs.episode_limit``).
    """
    from vpt_gym.tasks import TASKS

    entries = []
    for task in TASKS.values():
        if task.domain == "kitchen":
            entry_point, kwargs, family = "vpt_gym.envs.kitchen:make", {"task": task.task}, "kitchen"
        else:
            entry_point, family = "vpt_gym.envs.dmc:make", "dmc"
            kwargs = {"domain": task.domain, "task": task.task}
        entries.append(
            EnvEntry(
                name=f"{task.domain}-{task.task}-v0",
                entry_point=entry_point,
                kwargs=kwargs,
                max_episode_steps=None,
                family=family,
            )
        )
    return entries


def _crafter_entries() -> list[EnvEntry]:
    """Crafter (``vpt_gym.envs.crafter``): with crafter's reward, and reward-free (reward 0.0, crafter's
    reward in ``info["task_reward"]``). The env truncates episodes itself (``length``, 10000 steps),
    hence no ``TimeLimit``; ``env.spec.max_episode_steps`` is ``length``."""
    return [
        EnvEntry(
            name=name,
            entry_point="vpt_gym.envs.crafter:registry_entry_point",
            kwargs={"reward": reward},
            max_episode_steps=None,
            family="crafter",
        )
        for name, reward in (("Crafter-v1", True), ("CrafterNoReward-v1", False))
    ]


def _all_entries() -> list[EnvEntry]:
    entries = _minerl_entries()
    entries += _dmc_entries()
    entries += _crafter_entries()
    return entries


ENV_TABLE: list[EnvEntry] = _all_entries()


def register_all() -> None:
    """Register every id of :data:`ENV_TABLE` with gymnasium (idempotent)."""
    for entry in ENV_TABLE:
        if entry.id in gym.registry:
            continue
        gym.register(
            id=entry.id,
            entry_point=entry.entry_point,
            kwargs=dict(entry.kwargs),
            max_episode_steps=entry.max_episode_steps,
            # gymnasium's passive env checker stays on: it checks the spaces when the env is made,
            # and the first reset, step and render (not every step), so it costs nothing later.
        )


def env_ids(family: str | None = None) -> list[str]:
    """All registered vpt-gym ids, optionally only one family's (``"minerl"``, ``"dmc"``, ...)."""
    return [e.id for e in ENV_TABLE if family is None or e.family == family]


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make`` with an error that lists the valid ids when ``env_id`` is unknown.

    The namespace may be left out: ``make("MineRLBasaltFindCave-v0")`` works too.
    """
    full_id = env_id if env_id.startswith(NAMESPACE + "/") else f"{NAMESPACE}/{env_id}"
    valid = env_ids()
    if full_id not in valid:
        close = difflib.get_close_matches(full_id, valid, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise gym.error.UnregisteredEnv(
            f"Unknown vpt-gym environment id {env_id!r}.{hint} Valid ids: {', '.join(valid)}"
        )
    return gym.make(full_id, **kwargs)

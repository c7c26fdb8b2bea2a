"""A MineRL double whose inventory fills up on a fixed schedule, for the item-success tests.

``ScheduledInventoryDouble`` is :class:`vpt_gym.envs.minerl_double.MineRLDouble` (ObtainDiamondShovel-like:
``pov`` + ``inventory``) whose inventory holds ``count`` of an item from the step given in ``schedule`` on
(MineRL 1.0 names: ``oak_log``, ``oak_planks``...). :class:`ScheduledFactory` builds them as ``gym.make`` would.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vpt_gym.envs.minerl_double import MineRLDouble, OldGymTimeLimit

#: item key -> first step (0 = already at reset) it is in the inventory
DEFAULT_SCHEDULE = {"oak_log": 2, "oak_planks": 4}


class ScheduledInventoryDouble(MineRLDouble):
    def __init__(self, env_id: str, schedule: dict[str, int]) -> None:
        super().__init__(env_id)
        self.schedule = dict(schedule)

    def _obs(self) -> dict[str, Any]:
        obs = super()._obs()
        inventory = {k: np.int64(0) for k in ("dirt", "stone_pickaxe", "diamond")}
        inventory.update({k: np.int64(1 if self._t >= step else 0) for k, step in self.schedule.items()})
        obs["inventory"] = inventory
        return obs


class ScheduledFactory:
    """Builds :class:`ScheduledInventoryDouble` envs (picklable, keeps none of them)."""

    def __init__(self, env_id: str = "MineRLObtainDiamondShovel-v0", schedule: dict[str, int] | None = None) -> None:
        self.env_id = env_id
        self.schedule = dict(DEFAULT_SCHEDULE if schedule is None else schedule)

    def __call__(self) -> OldGymTimeLimit:
        return OldGymTimeLimit(ScheduledInventoryDouble(self.env_id, self.schedule), None)

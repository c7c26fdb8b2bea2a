"""Published reference numbers, shown in their own clearly labelled columns, never mixed with ours.

GenRL: v1 paper (arXiv 2406.18043v1) Table 1, behaviour extraction on the 14 in-data tasks, GenRL
column, mean and standard error over 5 seeds of the min-max normalised score (spec genrl.md 9.1).
Crafter: score (geometric mean of achievement success rates) at 1M env steps, from the Crafter and
DreamerV3 papers (issue 10).
"""
from __future__ import annotations

GENRL_TABLE1_SOURCE = "GenRL v1 paper, Table 1 (GenRL column; 5 seeds, mean ± s.e.)"

# task id -> (mean, standard error)
GENRL_TABLE1: dict[str, tuple[float, float]] = {
    "walker_stand": (1.01, 0.0),
    "walker_run": (0.76, 0.01),
    "walker_walk": (0.95, 0.03),
    "cheetah_run": (0.74, 0.01),
    "quadruped_stand": (0.98, 0.0),
    "quadruped_run": (0.61, 0.04),
    "quadruped_walk": (0.73, 0.06),
    "stickman_run": (0.35, 0.02),
    "stickman_walk": (0.78, 0.02),
    "stickman_stand": (0.49, 0.04),
    "kitchen_microwave": (0.67, 0.27),
    "kitchen_light": (0.43, 0.19),
    "kitchen_burner": (0.67, 0.14),
    "kitchen_slide": (1.0, 0.0),
}
GENRL_TABLE1_OVERALL = (0.73, 0.05)

CRAFTER_SOURCE = "Crafter score at 1M steps (Hafner 2021; DreamerV3 paper)"
CRAFTER_SCORES: dict[str, float] = {
    "random": 1.6,
    "PPO": 4.6,
    "DreamerV3": 14.5,
    "human experts": 50.5,
}

VPT_ITEMS_SOURCE = ("VPT rl-from-early-game-2x, independent rollouts of ~1.5k 10-minute episodes at ~21 FPS "
                    "(openai/Video-Pre-Training PR #14; spec vpt.md section 8)")
# item -> % of episodes that obtained it (items of VPT's tech tree that rollout reported)
VPT_ITEMS: dict[str, float] = {
    "wooden_pickaxe": 99.93,
    "stone_pickaxe": 99.65,
    "iron_pickaxe": 79.59,
    "diamond": 14.38,
}

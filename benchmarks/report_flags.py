"""Warnings the report computes from the data: results that look like scores but do not mean what they seem.

- :func:`random_anchor_flags`: a normalised score is ``(R - random) / (expert - random)`` with GenRL's random
  and expert returns. When *our* random agent scores far from 0 on a task (on quadruped the start pose is random,
  and a random agent reaches 0.5 on quadruped_walk or the expert score on quadruped_stand), GenRL's random
  anchor does not describe the env as we run it, and normalised scores there are not comparable with GenRL's.
- :func:`genrl_pipeline_flags`: the quick GenRL pipeline is far too small to learn when the learned policy's
  return is not above the random policy's; its prompt reward is saturated when it barely differs between very
  different policies (then it cannot have guided learning).

Example::

    >>> cells = {"k": {"agent": "random", "task": "quadruped_stand", "normalized": [1.02, 0.99, 0.1]}}
    >>> flags = random_anchor_flags(cells)
    >>> list(flags), "2 of 3 episodes" in flags["quadruped_stand"]
    (['quadruped_stand'], True)
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

# |mean normalised score of our random agent| above this: the task's random anchor is flagged
RANDOM_ANCHOR_TOLERANCE = 0.2
# a random episode at or above this normalised score reached the expert's level
EXPERT_LEVEL = 0.9
# prompt reward per step: a spread (max - min over the policies) below this is saturated
SATURATION_SPREAD = 0.01
# per-step prompt reward: a std over all steps of every policy below this is a constant reward
STEP_SATURATION_STD = 1e-3
#: how the flags of a saturated prompt reward begin (the report marks such reward numbers as no result)
SATURATED_PREFIXES = ("Prompt reward saturated", "Prompt reward constant")


def random_anchor_flags(cells: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """task id -> why its normalised scores are flagged, from this run's ``random`` cells."""
    out: dict[str, str] = {}
    for cell in cells.values():
        if cell.get("agent") != "random" or not cell.get("normalized"):
            continue
        scores = np.asarray(cell["normalized"], dtype=np.float64)
        mean = float(scores.mean())
        expert = int((scores >= EXPERT_LEVEL).sum())
        if abs(mean) <= RANDOM_ANCHOR_TOLERANCE and expert == 0:
            continue
        why = [f"our random agent scores {mean:.2f} here (GenRL's random anchor is 0 by definition)"]
        if expert:
            why.append(f"{expert} of {scores.size} episodes reach {EXPERT_LEVEL:g} or more, the expert's level")
        out[cell["task"]] = ("; ".join(why) + ": GenRL's random return does not describe this env as we run it "
                             "(e.g. a random start pose), so normalised scores on this task are not comparable "
                             "with GenRL's")
    return dict(sorted(out.items()))


def genrl_pipeline_flags(results: Mapping[str, Any]) -> list[str]:
    """Flags of a ``genrl_end_to_end`` results dict (policies ``genrl``, ``random``, ``zero_action``)."""
    flags = []
    ours, rnd = results.get("genrl") or {}, results.get("random") or {}
    if "mean_return" in ours and "mean_return" in rnd and ours["mean_return"] <= rnd["mean_return"]:
        flags.append(f"Too small to learn: the learned policy's return ({ours['mean_return']:.1f}) is not above the "
                     f"random policy's ({rnd['mean_return']:.1f}). This budget shows that the pipeline runs end to "
                     "end; it measures nothing about GenRL.")
    check = results.get("prompt_reward_check") or {}
    values = {k: v["prompt_reward_per_step"] for k, v in check.items() if "prompt_reward_per_step" in v}
    if len(values) >= 2:
        spread = max(values.values()) - min(values.values())
        if spread < SATURATION_SPREAD:
            shown = ", ".join(f"{k} {v:.5f}" for k, v in values.items())
            span = "is the same for every policy" if spread == 0 else f"spans only {spread:.2g} across the policies"
            flags.append(f"Prompt reward saturated: it {span} ({shown}; flagged when the spread is "
                         f"below {SATURATION_SPREAD:g}), so it does not tell them apart and cannot have guided "
                         "behaviour learning.")
    stds = [v["step_std"] for v in check.values() if "step_std" in v]
    if stds and max(stds) < STEP_SATURATION_STD:
        flags.append(f"Prompt reward constant per step: its per-step std is at most {max(stds):.2g} for every "
                     f"policy (flagged below {STEP_SATURATION_STD:g}); typically the world model's posterior "
                     "ignores the frames (one latent mode for every frame: too few or too slow world-model "
                     "updates, see genrl_end_to_end's wm_lr).")
    return flags

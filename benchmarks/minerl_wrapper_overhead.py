"""Cost of VPT's action/observation wrappers per MineRL step, against the raw MineRL double's step.

Run: ``python -m benchmarks.minerl_wrapper_overhead [--calls N]``

The raw env is the double of MineRL 1.0 (vpt_gym/envs/minerl_double.py), stepped with the
equivalent MineRL action dict; a real Minecraft step takes ~50 ms, so the double's step is a much
harsher baseline than the real env. All figures come from one run.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np


def measure(calls: int = 2000) -> list[dict[str, Any]]:
    from benchmarks.timing import seconds_per_call
    from vpt_gym.envs.minerl_double import DoubleFactory
    from vpt_gym.actions import agent_to_env
    from vpt_gym.envs.minerl import MineRLCompat, make
    from wrappers.vpt_action import VPTActionWrapper

    agent_action = np.array([295, 70])  # forward+jump+attack+camera, camera bins (6, 4)

    raw = DoubleFactory("MineRLHumanSurvival-v0")()
    raw.reset()
    env_action = VPTActionWrapper(MineRLCompat(DoubleFactory("MineRLHumanSurvival-v0"))).action(agent_action)

    wrapped = make("MineRLHumanSurvival-v0", minerl_factory=DoubleFactory("MineRLHumanSurvival-v0"))
    wrapped.reset(seed=0)
    action_wrapper = wrapped  # the outermost wrapper is VPTActionWrapper

    t_raw = seconds_per_call(lambda: raw.step(env_action), calls=calls)
    t_wrapped = seconds_per_call(lambda: wrapped.step(agent_action), calls=calls)
    t_action = seconds_per_call(lambda: action_wrapper.action(agent_action), calls=calls * 5)
    t_mapping = seconds_per_call(lambda: agent_to_env(agent_action), calls=calls * 5)
    batch = np.stack([agent_action] * 64)
    t_batch = seconds_per_call(lambda: agent_to_env(batch), calls=calls)
    us = 1e6
    return [
        {"what": "raw MineRL double step (dict action)", "us_per_step": t_raw * us, "ratio_to_raw": 1.0},
        {"what": "full VPT stack step (compat+restart+obs+action)", "us_per_step": t_wrapped * us,
         "ratio_to_raw": t_wrapped / t_raw},
        {"what": "VPTActionWrapper.action only", "us_per_step": t_action * us, "ratio_to_raw": t_action / t_raw},
        {"what": "agent_to_env, one action", "us_per_step": t_mapping * us, "ratio_to_raw": t_mapping / t_raw},
        {"what": "agent_to_env, batch of 64 (per action)", "us_per_step": t_batch / 64 * us,
         "ratio_to_raw": t_batch / 64 / t_raw},
    ]


def main() -> None:
    from benchmarks.timing import machine_description, print_and_save

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="timed calls (default 2000)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    rows = measure(args.calls)
    print(json.dumps(machine_description()))
    print_and_save(rows, args.json)


if __name__ == "__main__":
    main()

"""Crafter speed: raw ``crafter.Env`` vs ``vpt_gym.envs.crafter`` (and the scripted demonstrator).

Run: ``python -m benchmarks.crafter_speed [--calls N] [--repeats R] [--json out.json]``

All in one run, 64x64 observations, uniformly random actions (a fixed sequence, the same for both):

* ``step``: steps/s of raw ``crafter.Env.step`` (old gym API) vs the gymnasium env's ``step``
  (action checks, terminated/truncated split, info additions); an episode that ends is reset
  inside the timed call, as a training loop would;
* ``reset``: resets/s (world generation; ``opensimplex==0.3`` makes it ~4x faster than 0.4);
* ``demonstrator``: steps/s of ``agents.crafter_demonstrator`` acting + stepping (its path planning
  is the cost), against the wrapped env's random-action steps/s.

Column ``ratio`` = rate / baseline rate measured in the same run (< 1: slower than the baseline).
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Callable

import numpy as np

SIZE = 64


def _raw_step() -> Callable[[], None]:
    import crafter

    env = crafter.Env(size=(SIZE, SIZE), seed=0)
    env.reset()
    actions = np.random.default_rng(0).integers(0, 17, size=100_000)
    state = {"t": 0}

    def step() -> None:
        state["t"] += 1
        _, _, done, _ = env.step(int(actions[state["t"] % len(actions)]))
        if done:
            env.reset()

    return step


def _wrapped_step() -> Callable[[], None]:
    from vpt_gym.envs.crafter import make

    env = make(size=SIZE)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 17, size=100_000)
    state = {"t": 0}

    def step() -> None:
        state["t"] += 1
        _, _, terminated, truncated, _ = env.step(int(actions[state["t"] % len(actions)]))
        if terminated or truncated:
            env.reset()

    return step


def _demonstrator_step() -> Callable[[], None]:
    from agents.crafter_demonstrator import CrafterDemonstrator
    from vpt_gym.envs.crafter import make

    env = make(size=SIZE)
    env.reset(seed=0)
    demonstrator = CrafterDemonstrator(np.random.default_rng(0))
    demonstrator.reset(env)

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(demonstrator.act(env))
        if terminated or truncated:
            env.reset()
            demonstrator.reset(env)

    return step


def _raw_reset() -> Callable[[], None]:
    import crafter

    env = crafter.Env(size=(SIZE, SIZE), seed=0)
    return lambda: env.reset()


def _wrapped_reset() -> Callable[[], None]:
    from vpt_gym.envs.crafter import make

    env = make(size=SIZE)
    env.reset(seed=0)
    return lambda: env.reset()


def measure(calls: int = 500, repeats: int = 3) -> list[dict[str, Any]]:
    from benchmarks.timing import seconds_per_call

    def rate(build: Callable[[], Callable[[], None]], n: int) -> float:
        return 1.0 / seconds_per_call(build(), calls=n, repeats=repeats, warmup=2)

    raw_step, wrapped_step = rate(_raw_step, calls), rate(_wrapped_step, calls)
    demo_step = rate(_demonstrator_step, max(calls // 5, 1))
    n_resets = max(calls // 100, 2)
    raw_reset, wrapped_reset = rate(_raw_reset, n_resets), rate(_wrapped_reset, n_resets)
    return [
        {"what": "step, raw crafter (baseline)", "per s": raw_step, "ratio": 1.0},
        {"what": "step, vpt_gym Crafter env", "per s": wrapped_step, "ratio": wrapped_step / raw_step},
        {"what": "reset, raw crafter (baseline)", "per s": raw_reset, "ratio": 1.0},
        {"what": "reset, vpt_gym Crafter env", "per s": wrapped_reset, "ratio": wrapped_reset / raw_reset},
        {"what": "demonstrator act + step (vs wrapped random step)", "per s": demo_step,
         "ratio": demo_step / wrapped_step},
    ]


def main(argv: list[str] | None = None) -> None:
    from benchmarks.timing import machine_description, print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = measure(args.calls, args.repeats)
    print(f"Crafter speed, {SIZE}x{SIZE} observations, random actions (median of {args.repeats} repeats)")
    print_table(rows, list(rows[0]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": machine_description(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()

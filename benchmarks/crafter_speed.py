"""Crafter speed: raw ``crafter.Env`` vs ``vpt_gym.envs.crafter`` (and the scripted demonstrator).

Run: ``python -m benchmarks.crafter_speed [--calls N] [--repeats R] [--json out.json]``

All in one run, 64x64 observations, uniformly random actions (a fixed sequence, the same for both):

* ``step``: steps/s of raw ``crafter.Env.step`` (old gym API) vs the gymnasium env's ``step``
  (action checks, terminated/truncated split, info additions); an episode that ends is reset
  inside the timed call, as a training loop would;
* ``reset``: resets/s (world generation; ``opensimplex==0.3`` makes it ~4x faster than 0.4);
* ``demonstrator``: ``act()`` calls/s of ``agents.crafter_demonstrator`` (its path planning), against
  env steps/s on the same episode (``calls`` steps from ``reset(seed=repeat)``): the env is
  deterministic, so replaying the episode's actions gives the env's share of the time exactly.

Random play dies every ~170 steps, so the random-action step rates include crafter's reset (world
generation, ~0.2 s) at that rate, for raw crafter and the wrapper alike (same seed, same actions).

Column ``ratio`` = rate / baseline rate measured in the same run (< 1: slower than the baseline).
"""
from __future__ import annotations

import argparse
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


def _demonstrator_act_rate(steps: int, repeats: int) -> tuple[float, float]:
    """(act calls/s, env steps/s) of the demonstrator, separated exactly.

    The env is deterministic for a seed, so replaying the recorded actions on the same seed repeats
    the same env work without the demonstrator: act time = episode time - replay time.
    """
    import time

    from agents.crafter_demonstrator import run_demonstrator
    from vpt_gym.envs.crafter import make

    env = make(size=SIZE, length=steps)
    act_rates, step_rates = [], []
    for repeat in range(repeats):
        start = time.perf_counter()
        episode = run_demonstrator(env, n_episodes=1, seed=repeat)[0]
        total = time.perf_counter() - start
        start = time.perf_counter()
        env.reset(seed=repeat)
        for action in episode.actions:
            env.step(int(action))
        replay = time.perf_counter() - start
        act_rates.append(len(episode) / max(total - replay, 1e-9))
        step_rates.append(len(episode) / replay)
    return float(np.median(act_rates)), float(np.median(step_rates))


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
    demo_act, demo_env = _demonstrator_act_rate(calls, repeats)
    n_resets = max(calls // 100, 2)
    raw_reset, wrapped_reset = rate(_raw_reset, n_resets), rate(_wrapped_reset, n_resets)
    return [
        {"what": "step, raw crafter (baseline)", "per s": raw_step, "ratio": 1.0},
        {"what": "step, vpt_gym Crafter env", "per s": wrapped_step, "ratio": wrapped_step / raw_step},
        {"what": "reset, raw crafter (baseline)", "per s": raw_reset, "ratio": 1.0},
        {"what": "reset, vpt_gym Crafter env", "per s": wrapped_reset, "ratio": wrapped_reset / raw_reset},
        {"what": "env step replaying a demonstrator episode (baseline)", "per s": demo_env, "ratio": 1.0},
        {"what": "demonstrator act() alone (path planning)", "per s": demo_act, "ratio": demo_act / demo_env},
    ]


def main(argv: list[str] | None = None) -> None:
    from benchmarks.timing import print_and_save

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, the median is reported (default 3)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = measure(args.calls, args.repeats)
    print(f"Crafter speed, {SIZE}x{SIZE} observations, random actions (median of {args.repeats} repeats)")
    print_and_save(rows, args.json)


if __name__ == "__main__":
    main()

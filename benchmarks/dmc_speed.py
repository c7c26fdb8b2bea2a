"""Pixel dm_control speed: default vs fast render quality, raw dm_control vs the wrapped env.

Run: ``python -m benchmarks.dmc_speed [--calls N] [--domains walker cheetah quadruped]``

One agent step = ``action_repeat`` (2) control steps + one 64x64 render, as GenRL runs it. Per
domain, all in one run:

* raw dm_control: ``suite.load`` + two ``env.step`` + ``physics.render(64, 64, camera_id)``;
* wrapped: ``vpt_gym.envs.dmc.make(domain, task)`` stepping (shimmy + action repeat + pixel
  observation + action checks);
* each at ``render_quality`` default (the model's own settings, as GenRL) and fast
  (``offsamples=0``, ``shadowsize=512``);
* state observations (no rendering), raw physics vs wrapped, for the cost of physics alone.

Columns ``wrapped/raw`` (< 1 means the wrappers cost time) and ``fast/default`` (the speed-up of
``render_quality="fast"``) are ratios of steps/s measured in the same run.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Callable

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

TASKS = {"walker": "walk", "cheetah": "run", "quadruped": "run"}
SIZE = 64
REPEAT = 2


def _raw_step(domain: str, quality: str | None) -> Callable[[], Any]:
    """One agent step on plain dm_control (``quality=None``: no rendering)."""
    from vpt_gym.envs import dmc

    env = dmc.load_dm_env(domain, TASKS[domain], seed=0)
    camera = dmc.DEFAULT_CAMERA.get(domain, 0)
    if quality is not None:
        dmc.apply_render_quality(env.physics, quality)
    env.reset()
    spec = env.action_spec()
    action = np.random.default_rng(0).uniform(spec.minimum, spec.maximum)

    def step() -> None:
        for _ in range(REPEAT):
            env.step(action)  # dm_control resets by itself after the last step
        if quality is not None:
            env.physics.render(SIZE, SIZE, camera_id=camera)

    return step


def _wrapped_step(domain: str, quality: str | None) -> Callable[[], Any]:
    """One agent step of ``vpt_gym.envs.dmc.make`` (``quality=None``: state observations)."""
    from vpt_gym.envs import dmc

    if quality is None:
        env = dmc.make(domain, TASKS[domain], obs_type="state", size=SIZE)
    else:
        env = dmc.make(domain, TASKS[domain], size=SIZE, render_quality=quality)
    env.reset(seed=0)
    action = env.action_space.sample()

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()

    return step


def measure(domains: list[str], calls: int = 200, repeats: int = 3) -> list[dict[str, Any]]:
    from benchmarks.timing import seconds_per_call

    rows = []
    for domain in domains:
        rate: dict[str, float] = {}
        for label, quality in (("default", "default"), ("fast", "fast"), ("state", None)):
            for kind, build in (("raw", _raw_step), ("wrapped", _wrapped_step)):
                n = calls * 10 if quality is None else calls
                seconds = seconds_per_call(build(domain, quality), calls=n, repeats=repeats, warmup=2)
                rate[f"{kind}_{label}"] = 1.0 / seconds
        rows.append(
            {
                "task": f"{domain}-{TASKS[domain]}",
                "raw default sps": rate["raw_default"],
                "wrapped default sps": rate["wrapped_default"],
                "wrapped/raw default": rate["wrapped_default"] / rate["raw_default"],
                "raw fast sps": rate["raw_fast"],
                "wrapped fast sps": rate["wrapped_fast"],
                "wrapped/raw fast": rate["wrapped_fast"] / rate["raw_fast"],
                "fast/default (wrapped)": rate["wrapped_fast"] / rate["wrapped_default"],
                "raw state sps": rate["raw_state"],
                "wrapped state sps": rate["wrapped_state"],
                "wrapped/raw state": rate["wrapped_state"] / rate["raw_state"],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    from benchmarks.timing import print_and_save

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="agent steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, the median is reported (default 3)")
    parser.add_argument("--domains", nargs="+", default=list(TASKS), choices=list(TASKS),
                        help="domains to time (default: all)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = measure(args.domains, args.calls, args.repeats)
    print(f"dm_control pixel speed, {SIZE}x{SIZE}, action repeat {REPEAT}, agent steps/s "
          f"(median of {args.repeats} x {args.calls} steps), MUJOCO_GL={os.environ['MUJOCO_GL']}")
    print_and_save(rows, args.json)


if __name__ == "__main__":
    main()

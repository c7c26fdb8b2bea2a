"""Performance measurements the runner can include in a suite: name -> ``measure(quick) -> rows``.

Each measurement lives in its own module under ``benchmarks/`` (runnable on its own with
``python -m benchmarks.<module>``) and returns rows of plain values, ratios included.
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Callable


def _minerl_wrapper_overhead(quick: bool) -> list[dict[str, Any]]:
    from benchmarks.minerl_wrapper_overhead import measure

    return measure(calls=300 if quick else 2000)


def _dmc_speed(quick: bool) -> list[dict[str, Any]]:
    from benchmarks.dmc_speed import measure

    return measure(["walker", "cheetah", "quadruped"], calls=20 if quick else 200, repeats=2 if quick else 3)


def _crafter_speed(quick: bool) -> list[dict[str, Any]]:
    from benchmarks.crafter_speed import measure

    return measure(calls=200 if quick else 500, repeats=2 if quick else 3)


def _vpt_policy_speed(quick: bool) -> list[dict[str, Any]]:
    from benchmarks.vpt_policy_speed import measure

    # quick: the tiny preset checks the machinery in seconds; --full-perf gives the 1x figures
    preset = "tiny" if quick else "1x"
    if quick:
        rows = measure(preset=preset, steps=5, warmup=1, no_cache_steps=1, accuracy_steps=4)
    else:
        rows = measure(preset=preset)
    extra: dict[str, Any] = {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "<unset>")}
    if hasattr(os, "getloadavg"):
        extra["load_1min"] = os.getloadavg()[0]
    if quick:
        extra["note"] = "tiny preset: NOT the 1x figure (fast modes can be slower than fp32 on it)"
    return [{"preset": preset, **row, **extra} for row in rows]


def _world_model_speed(quick: bool) -> list[dict[str, Any]]:
    from benchmarks.world_model_speed import measure

    if quick:
        return measure(configs=("small",), batch=4, length=16, steps=1)
    return measure()


MEASUREMENTS: dict[str, Callable[[bool], list[dict[str, Any]]]] = {
    "minerl_wrapper_overhead": _minerl_wrapper_overhead,
    "dmc_speed": _dmc_speed,
    "crafter_speed": _crafter_speed,
    "vpt_policy_speed": _vpt_policy_speed,
    "world_model_speed": _world_model_speed,
}


def run_measurement(name: str, quick: bool) -> list[dict[str, Any]]:
    if name not in MEASUREMENTS:
        raise KeyError(f"Unknown perf measurement {name!r}; valid: {', '.join(MEASUREMENTS)}")
    return MEASUREMENTS[name](quick)


def available(name: str) -> bool:
    """Whether the modules a measurement needs import (a measurement may need an optional extra)."""
    try:
        importlib.import_module(f"benchmarks.{name}")
    except ImportError:
        return False
    return True

"""Performance measurements the runner can include in a suite: name -> ``measure(quick) -> rows``.

Each measurement lives in its own module under ``benchmarks/`` (runnable on its own with
``python -m benchmarks.<module>``) and returns rows of plain values, ratios included.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def _minerl_wrapper_overhead(quick: bool) -> list[dict[str, Any]]:
    from benchmarks.minerl_wrapper_overhead import measure

    return measure(calls=300 if quick else 2000)


MEASUREMENTS: dict[str, Callable[[bool], list[dict[str, Any]]]] = {
    "minerl_wrapper_overhead": _minerl_wrapper_overhead,
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

"""Timing primitives shared by the benchmarks: best-of-repeats wall time per call, machine info."""
from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable


def seconds_per_call(fn: Callable[[], Any], *, calls: int, repeats: int = 5, warmup: int = 3) -> float:
    """Median over ``repeats`` of the mean wall time of ``calls`` calls of ``fn`` (seconds).

    The median of several repeats is robust to the odd slow repeat on a shared 2-core machine.
    """
    for _ in range(warmup):
        fn()
    means = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        means.append((time.perf_counter() - start) / calls)
    means.sort()
    return means[len(means) // 2]


def machine_description() -> dict[str, Any]:
    """What the figures were measured on."""
    import numpy as np

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print ``rows`` as a Markdown table with the given columns."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")


def print_and_save(rows: list[dict[str, Any]], json_path: str | None) -> None:
    """Print ``rows`` as a table; with ``json_path``, also write them there with the machine's description."""
    import json

    print_table(rows, list(rows[0]))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({"machine": machine_description(), "rows": rows}, f, indent=2)

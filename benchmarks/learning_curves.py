"""Learning curves of the agents a suite trains: ground-truth (GT) return against env steps, plotted and tabled.

A trained agent's cell holds ``learning_curve = {"steps": [...], "returns": [...]}`` (one point per finished
training episode: env steps taken so far, that episode's GT return; see :mod:`benchmarks.vlm_ppo_agent`).
One panel per task, one line per agent (a running mean over ``window`` episodes; the raw points faintly).

Example::

    >>> cells = {"t|a": {"env_id": "t", "agent": "a", "learning_curve": {"steps": [10, 20], "returns": [1.0, 3.0]}}}
    >>> curve_summary(cells)
    [('t', 'a', 2, 20, 2.0)]
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from benchmarks.results import task_label


def _curves(cells: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for cell in cells.values():
        curve = cell.get("learning_curve")
        if not curve:
            continue
        steps = np.asarray(curve.get("steps", []), dtype=np.float64)
        rets = np.asarray(curve.get("returns", []), dtype=np.float64)
        if steps.shape != rets.shape:
            raise ValueError(f"learning curve of {cell.get('env_id')} / {cell.get('agent')}: {steps.size} steps but "
                             f"{rets.size} returns")
        out[task_label(cell)][cell["agent"]] = (steps, rets)
    return dict(out)


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at every point (fewer at the start)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    c = np.cumsum(np.insert(np.asarray(values, dtype=np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def curve_summary(cells: Mapping[str, Mapping[str, Any]], window: int = 10) -> list[tuple[str, str, int, int, float]]:
    """(task, agent, training episodes, last env step, mean GT return of the last ``window`` episodes) per curve
    with at least one episode."""
    rows = []
    for task, per_agent in sorted(_curves(cells).items()):
        for agent, (steps, rets) in sorted(per_agent.items()):
            if rets.size:
                rows.append((task, agent, int(rets.size), int(steps[-1]), float(rets[-window:].mean())))
    return rows


def pipeline_curves(pipelines: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Cell-like entries for the curves a pipeline reports as ``results["learning_curves"] = {agent: {"steps":
    [...], "returns": [...]}}`` (optional; the pipeline's name stands in for the task)."""
    out: dict[str, dict[str, Any]] = {}
    for name, result in pipelines.items():
        curves = (result.get("results") or {}).get("learning_curves") or {}
        if not isinstance(curves, Mapping):
            raise ValueError(f"pipeline {name!r}: results['learning_curves'] must be a dict agent -> curve")
        for agent, curve in curves.items():
            out[f"pipeline:{name}|{agent}"] = {"env_id": f"pipeline {name}", "agent": agent, "learning_curve": curve}
    return out


def has_curves(cells: Mapping[str, Mapping[str, Any]]) -> bool:
    return any(cell.get("learning_curve") for cell in cells.values())


def plot_learning_curves(cells: Mapping[str, Mapping[str, Any]], path: Path, window: int = 10) -> Path | None:
    """One panel per task: GT return of training episodes vs env steps, per agent. None when there is no point."""
    curves = {t: c for t, c in _curves(cells).items() if any(r.size for _, r in c.values())}
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(curves))
    rows = math.ceil(len(curves) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax, (task, per_agent) in zip(axes.flat, sorted(curves.items()), strict=False):  # more axes than tasks
        for agent, (steps, rets) in sorted(per_agent.items()):
            if not rets.size:
                continue
            line, = ax.plot(steps, running_mean(rets, window), label=agent)
            ax.scatter(steps, rets, s=4, alpha=0.3, color=line.get_color())
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("env steps", fontsize=8)
        ax.set_ylabel("GT return", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(curves):]:
        ax.set_visible(False)
    fig.suptitle(f"Learning curves (ours): GT return of training episodes, running mean over {window}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curve_section(cells: Mapping[str, Mapping[str, Any]], out_dir: Path, window: int = 10) -> list[str]:
    """The report's "Learning curves" section (a table and the plot), or nothing when no cell trained."""
    if not has_curves(cells):
        return []
    lines = ["", "## Learning curves", "",
             f"Training episodes of the agents this suite trains: ground-truth return (the env's reward, not the "
             f"training reward) against env steps. Last column: mean over the last {window} training episodes.", "",
             "| task | agent | training episodes | env steps | GT return (last episodes) |", "|---|---|---|---|---|"]
    lines += [f"| {t} | {a} | {n} | {s:,} | {r:.1f} |" for t, a, n, s, r in curve_summary(cells, window)]
    if plot_learning_curves(cells, Path(out_dir) / "plots" / "learning_curves.png", window) is not None:
        lines += ["", "![learning curves](plots/learning_curves.png)"]
    else:
        lines += ["", "(No training episode finished within the budget, so there is no curve to plot.)"]
    return lines

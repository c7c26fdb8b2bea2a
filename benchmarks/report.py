"""Turn ``results.json`` into ``results.md`` (tables like GenRL's Table 1) and plots.

Every number in our columns is computed here from the raw episode returns in the results file. The
published numbers (:mod:`benchmarks.published`) appear only in their own labelled column. The report shows
the cells, pipelines and perf measurements of the run that wrote it (``meta``); cells of other settings kept in
the same file are counted, not shown. Tasks are named one way everywhere (:func:`~benchmarks.results.task_label`);
intervals are :mod:`benchmarks.intervals`; flags computed from the data are :mod:`benchmarks.report_flags`.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from benchmarks.intervals import Estimate, describe_method, estimate, format_estimate
from benchmarks.item_report import items_section
from benchmarks.learning_curves import learning_curve_section, pipeline_curves
from benchmarks.published import (
    CRAFTER_SCORES,
    CRAFTER_SOURCE,
    GENRL_TABLE1,
    GENRL_TABLE1_OVERALL,
    GENRL_TABLE1_SOURCE,
)
from benchmarks.report_flags import random_anchor_flags
from benchmarks.results import ResultsFile, task_label
from vpt_gym.tasks import TASKS

FLAG = "†"
_TASK_BY_ENV_ID = {t.env_id: t.id for t in TASKS.values()}


def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN for a single value: one value has no standard error)."""
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()), se


def _published(mean_and_se: tuple[float, float]) -> str:
    return f"{mean_and_se[0]:.2f} ± {mean_and_se[1]:.2f}"


def _normalised_by_task(cells: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, list[float]]]:
    """(domain, agent) -> task id -> that task's normalised episode scores."""
    per: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(dict)
    for cell in cells.values():
        if "normalized" in cell:
            per[(cell["domain"], cell["agent"])][task_label(cell)] = list(cell["normalized"])
    return dict(per)


def domain_scores(cells: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], Estimate]:
    """(domain, agent) -> the mean over the domain's tasks of each task's mean normalised score, with a
    stratified bootstrap interval over episodes where every task has enough (:func:`benchmarks.intervals.estimate`)."""
    return {k: estimate(list(v.values())) for k, v in sorted(_normalised_by_task(cells).items())}


def overall_scores(cells: Mapping[str, Mapping[str, Any]]) -> dict[str, Estimate]:
    per: dict[str, list[list[float]]] = defaultdict(list)
    for cell in cells.values():
        if "normalized" in cell:
            per[cell["agent"]].append(list(cell["normalized"]))
    return {k: estimate(v) for k, v in sorted(per.items())}


def perf_table(rows: list[dict[str, Any]]) -> list[str]:
    """A Markdown table of ``rows``; a column that no row fills (absent or None everywhere) is left out."""
    columns = [c for c in dict.fromkeys(c for row in rows for c in row) if any(row.get(c) is not None for row in rows)]

    def text(value: Any) -> str:
        if value is None:
            return "–"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(text(row.get(c)) for c in columns) + " |" for row in rows]
    return lines


def plot_domains(scores: Mapping[tuple[str, str], Estimate], path: Path) -> None:
    """Bar chart of normalised score per domain, one bar per agent; error bars are the bootstrap intervals
    where the report gives them (none otherwise)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = sorted({d for d, _ in scores})
    agents = sorted({a for _, a in scores})
    width = 0.8 / max(len(agents), 1)
    fig, ax = plt.subplots(figsize=(1.6 * len(domains) + 2, 3.2))
    for i, agent in enumerate(agents):
        present = [(j, scores[(d, agent)]) for j, d in enumerate(domains) if (d, agent) in scores]
        xs = [j + i * width for j, _ in present]
        ms = [e.mean for _, e in present]
        err = np.array([[e.mean - e.ci[0], e.ci[1] - e.mean] if e.ci else [0.0, 0.0] for _, e in present]).T
        ax.bar(xs, ms, width, yerr=err if err.any() else None, capsize=3, label=agent)
    ax.set_xticks([j + width * (len(agents) - 1) / 2 for j in range(len(domains))], domains)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("normalised score")
    ax.set_title("Normalised score per domain (ours; mean over tasks, 95% bootstrap CI where given)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _crafter_section(cells: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Crafter score and per-achievement success rates of the cells that recorded achievements."""
    from vpt_gym.crafter_score import crafter_score, success_rates

    crafter_cells = [c for c in cells.values() if c.get("achievements")]
    if not crafter_cells:
        return []
    lines = ["", "## Crafter", "",
             "Crafter score = exp(mean ln(1 + success %)) − 1 over the 22 achievements (Crafter paper), from our "
             "episodes. Published scores (1M training steps, 10,000-step episodes), not ours: "
             + ", ".join(f"{k} {v}%" for k, v in CRAFTER_SCORES.items()) + f" ({CRAFTER_SOURCE}).", "",
             "| task | agent | episodes | mean length | Crafter score (%) | achievements unlocked in ≥1 episode |",
             "|---|---|---|---|---|---|"]
    for cell in sorted(crafter_cells, key=lambda c: (task_label(c), c["agent"])):
        episodes = [set(a) for a in cell["achievements"] if a is not None]
        rates = success_rates(episodes)
        unlocked = ", ".join(f"{k} {v:.0f}%" for k, v in sorted(rates.items(), key=lambda kv: -kv[1]) if v > 0)
        lines.append(f"| {task_label(cell)} | {cell.get('agent_label', cell['agent'])} | {len(episodes)} | "
                     f"{np.mean(cell['lengths']):.0f} | {crafter_score(episodes):.2f} | {unlocked or '–'} |")
    return lines


def _skipped_section(cells: Mapping[str, Any], pipelines: Mapping[str, Any]) -> list[str]:
    """Skipped cells grouped by reason (one line per reason, naming task and agent), then skipped pipelines."""
    if not cells and not pipelines:
        return []
    by_reason: dict[str, list[str]] = defaultdict(list)
    for entry in cells.values():
        task = _TASK_BY_ENV_ID.get(entry["env_id"]) or str(entry["env_id"]).split("/")[-1]
        by_reason[entry["message"]].append(f"{task} / {entry['agent']}")
    lines = ["", "## Skipped", ""]
    for why, names in by_reason.items():
        names = sorted(names)
        shown = ", ".join(f"`{k}`" for k in names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        lines.append(f"- {shown}: {why}")
    lines += [f"- pipeline `{entry['name']}`: {entry['message']}" for entry in pipelines.values()]
    return lines


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def _run_section(results: ResultsFile) -> list[str]:
    """Who made the report: the command, commit, time, machine, every package version, the warnings log."""
    meta = results.meta
    machine = meta.get("machine", {})
    lines = [f"Command: `{meta.get('command', '?')}`; git commit {meta.get('commit') or 'unknown (not a git checkout)'}.",
             f"Started {meta.get('started')}; seed {meta.get('seed')} (episode i of a cell is reset with seed + i).",
             f"Machine: {machine.get('cpu', '?')}, {machine.get('cpu_count', '?')} cores, torch threads "
             f"{machine.get('torch_threads', '?')}; times are from this machine (shared machines give slower, "
             "noisier figures).",
             f"Measured time of this run: {_minutes(meta.get('seconds'))}"
             + ("" if not meta.get("seconds_by_part") else " = " + ", ".join(
                 f"{k} {v:.0f} s" for k, v in meta["seconds_by_part"].items()))
             + " (parts already in the file from an earlier run take no time).",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()) + "."]
    if meta.get("log"):
        lines.append(f"Library warnings and log messages of this run: [{meta['log']}]({meta['log']}) "
                     f"({meta.get('log_records', 0)} records).")
    earlier = len(results.data.get("runs", [])) - 1
    hidden = len(results.cells) - len(results.shown_cells())
    if earlier > 0 or hidden > 0:
        lines.append(f"This directory holds {earlier} earlier run(s); {hidden} cell(s) in results.json were made with "
                     "other settings (seed, episodes, env kwargs, agent settings or package versions) and are not "
                     "shown here.")
    return lines


def _tasks_section(cells: Mapping[str, Mapping[str, Any]]) -> list[str]:
    tasks: dict[str, dict[str, Any]] = {}
    for cell in cells.values():
        tasks.setdefault(task_label(cell), cell)
    lines = ["", "## Tasks", "", "| task | env id | env kwargs | episode seeds |", "|---|---|---|---|"]
    for name, cell in sorted(tasks.items()):
        seeds = cell.get("seeds") or []
        span = f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else (str(seeds[0]) if seeds else "–")
        kwargs = ", ".join(f"{k}={v}" for k, v in (cell.get("env_kwargs") or {}).items()) or "–"
        lines.append(f"| {name} | `{cell['env_id']}` | {kwargs} | {span} |")
    return lines


def _per_task_section(cells: Mapping[str, Mapping[str, Any]], flags: Mapping[str, str]) -> list[str]:
    lines = ["", "## Per task", "",
             "Ours: mean return and normalised score over n episodes. Normalised score = (return − random) / "
             "(expert − random) with GenRL's random/expert returns. " + describe_method() + " "
             f"The last column is published, not ours: {GENRL_TABLE1_SOURCE}.", "",
             "| task | agent | n | return | normalised | published GenRL |", "|---|---|---|---|---|---|"]
    for cell in sorted(cells.values(), key=lambda c: (task_label(c), c["agent"])):
        name = task_label(cell)
        ret = format_estimate(estimate([cell["returns"]]), digits=1)
        norm = format_estimate(estimate([cell["normalized"]])) if "normalized" in cell else "–"
        if name in flags and "normalized" in cell:
            norm += f" {FLAG}"
        pub = GENRL_TABLE1.get(cell.get("task", ""))
        lines.append(f"| {name} | {cell.get('agent_label', cell['agent'])} | {len(cell['returns'])} | {ret} | {norm} | "
                     f"{_published(pub) if pub else '–'} |")
    if flags:
        lines += ["", f"{FLAG} Normalised score flagged (computed from this run's random agent):", ""]
        lines += [f"- `{task}`: {why}." for task, why in flags.items()]
    return lines


def _aggregate_sections(cells: Mapping[str, Mapping[str, Any]], flags: Mapping[str, str], out: Path) -> list[str]:
    dom = domain_scores(cells)
    if not dom:
        return []
    per_task = _normalised_by_task(cells)

    def flagged(tasks: Iterable[str]) -> str:
        hit = sorted(t for t in tasks if t in flags)
        return f" {FLAG} ({', '.join(hit)})" if hit else ""

    lines = ["", "## Per domain", "", "Mean over the domain's tasks of each task's mean normalised score. "
             + describe_method(), "", "| domain | agent | tasks | episodes per task | normalised |", "|---|---|---|---|---|"]
    for (d, a), e in dom.items():
        tasks = per_task[(d, a)]
        counts = sorted({len(v) for v in tasks.values()})
        lines.append(f"| {d} | {a} | {e.strata} | {'–'.join(map(str, counts))} | {format_estimate(e)}{flagged(tasks)} |")
    overall = overall_scores(cells)
    all_tasks: dict[str, set[str]] = defaultdict(set)
    for (_, a), tasks in per_task.items():
        all_tasks[a] |= set(tasks)
    lines += ["", "## Overall", "", "| agent | tasks | normalised (mean over tasks) | published GenRL overall "
              "(Table 1, 14 in-data tasks, mean ± s.e.) |", "|---|---|---|---|"]
    lines += [f"| {a} | {e.strata} | {format_estimate(e)}{flagged(all_tasks[a])} | {_published(GENRL_TABLE1_OVERALL)} |"
              for a, e in overall.items()]
    if flags:
        lines += ["", f"{FLAG} includes tasks whose normalised score is flagged above."]
    plot_domains(dom, out / "plots" / "normalized_by_domain.png")
    lines += ["", "![normalised score per domain](plots/normalized_by_domain.png)"]
    return lines


def _pipeline_sections(pipelines: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for result in pipelines.values():
        title = f"{result.get('name')} (seed {result.get('seed')}, {result.get('size')} size)"
        lines += ["", f"## Pipeline: {title}", ""] + list(result["table"])
        links = [p for p in result.get("plots", []) if f"]({p})" not in "\n".join(result["table"])]
        for p in links:
            lines += ["", f"![{Path(p).stem}]({p})"]
    return lines


def write_report(results: ResultsFile, out_dir: str | Path) -> Path:
    """Write ``results.md`` and ``plots/`` into ``out_dir``; return the Markdown file's path."""
    out = Path(out_dir)
    meta = results.meta
    cells = results.shown_cells()
    lines = [f"# vpt-gym benchmark: suite `{meta.get('suite')}`", ""] + _run_section(results)
    if meta.get("skipped"):
        lines += ["", f"**Skipped:** {meta['skipped']}"]
    flags = random_anchor_flags(cells)
    if cells:
        lines += _tasks_section(cells) + _per_task_section(cells, flags) + _aggregate_sections(cells, flags, out)
        videos = [c["video"] for c in cells.values() if c.get("video")]
        if videos:
            lines += ["", "## Videos", "", "First episode of each cell (every 2nd frame): "
                      + ", ".join(f"[{v}](videos/{v})" for v in sorted(videos))]
    lines += _crafter_section(cells)
    lines += items_section(cells, out)
    pipelines = results.shown_pipelines()
    lines += learning_curve_section({**cells, **pipeline_curves({p["name"]: p for p in pipelines.values()})}, out)
    lines += _pipeline_sections(pipelines)
    lines += _skipped_section(results.shown_skipped_cells(), results.shown_skipped_pipelines())
    for entry in results.shown_perf().values():
        lines += ["", f"## Performance: {entry['name']} ({entry['size']})", ""] + perf_table(entry["rows"])
    path = out / "results.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

"""Turn ``results.json`` into ``results.md`` (tables like GenRL's Table 1) and plots.

Every number in our columns is computed here from the raw episode returns in the results file. The
published numbers (:mod:`benchmarks.published`) appear only in their own labelled column.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from benchmarks.published import (
    CRAFTER_SCORES,
    CRAFTER_SOURCE,
    GENRL_TABLE1,
    GENRL_TABLE1_OVERALL,
    GENRL_TABLE1_SOURCE,
)
from benchmarks.item_report import items_section
from benchmarks.learning_curves import learning_curve_section, pipeline_curves
from benchmarks.results import ResultsFile


def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
    return float(x.mean()), se


def _fmt(mean: float, se: float, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def domain_scores(cells: dict[str, dict[str, Any]]) -> dict[tuple[str, str], tuple[float, float]]:
    """(domain, agent) -> mean ± s.e. of the per-task mean normalised scores of that domain.

    As in GenRL's tables, a domain's score averages its tasks' means; the error bar is the standard
    error over those task means (0 when the domain has one task).
    """
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    for cell in cells.values():
        if "normalized" in cell:
            per[(cell["domain"], cell["agent"])].append(float(np.mean(cell["normalized"])))
    return {k: mean_se(v) for k, v in sorted(per.items())}


def overall_scores(cells: dict[str, dict[str, Any]]) -> dict[str, tuple[float, float]]:
    per: dict[str, list[float]] = defaultdict(list)
    for cell in cells.values():
        if "normalized" in cell:
            per[cell["agent"]].append(float(np.mean(cell["normalized"])))
    return {k: mean_se(v) for k, v in sorted(per.items())}


def _perf_table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row.get(c, ''):.4g}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot_domains(scores: dict[tuple[str, str], tuple[float, float]], path: Path) -> None:
    """Bar chart of normalised score per domain, one bar per agent, with standard-error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = sorted({d for d, _ in scores})
    agents = sorted({a for _, a in scores})
    width = 0.8 / max(len(agents), 1)
    fig, ax = plt.subplots(figsize=(1.6 * len(domains) + 2, 3.2))
    for i, agent in enumerate(agents):
        xs = [j + i * width for j, d in enumerate(domains) if (d, agent) in scores]
        ms = [scores[(d, agent)][0] for d in domains if (d, agent) in scores]
        ses = [scores[(d, agent)][1] for d in domains if (d, agent) in scores]
        ax.bar(xs, ms, width, yerr=ses, capsize=3, label=agent)
    ax.set_xticks([j + width * (len(agents) - 1) / 2 for j in range(len(domains))], domains)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("normalised score")
    ax.set_title("Normalised score per domain (ours; mean ± s.e. over tasks)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _crafter_section(cells: dict[str, dict[str, Any]]) -> list[str]:
    """Crafter score and per-achievement success rates of the cells that recorded achievements."""
    from vpt_gym.crafter_score import crafter_score, success_rates

    crafter_cells = [c for c in cells.values() if c.get("achievements")]
    if not crafter_cells:
        return []
    lines = ["", "## Crafter", "",
             "Crafter score = exp(mean ln(1 + success %)) − 1 over the 22 achievements (Crafter paper), from our "
             "episodes. Published scores (1M training steps, 10,000-step episodes), not ours: "
             + ", ".join(f"{k} {v}%" for k, v in CRAFTER_SCORES.items()) + f" ({CRAFTER_SOURCE}).", "",
             "| env | agent | episodes | mean length | Crafter score (%) | achievements unlocked in ≥1 episode |",
             "|---|---|---|---|---|---|"]
    for cell in sorted(crafter_cells, key=lambda c: (c["env_id"], c["agent"])):
        episodes = [set(a) for a in cell["achievements"] if a is not None]
        rates = success_rates(episodes)
        unlocked = ", ".join(f"{k} {v:.0f}%" for k, v in sorted(rates.items(), key=lambda kv: -kv[1]) if v > 0)
        lines.append(f"| {cell['env_id']} | {cell.get('agent_label', cell['agent'])} | {len(episodes)} | "
                     f"{np.mean(cell['lengths']):.0f} | {crafter_score(episodes):.2f} | {unlocked or '–'} |")
    return lines


def _skipped_section(cells: dict[str, str], pipelines: dict[str, str]) -> list[str]:
    """Skipped cells grouped by reason (one line per reason, naming its cells), then skipped pipelines."""
    if not cells and not pipelines:
        return []
    by_reason: dict[str, list[str]] = defaultdict(list)
    for key, why in sorted(cells.items()):
        by_reason[why].append(key)
    lines = ["", "## Skipped", ""]
    for why, keys in by_reason.items():
        shown = ", ".join(f"`{k}`" for k in keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        lines.append(f"- {shown}: {why}")
    lines += [f"- pipeline `{name}`: {why}" for name, why in sorted(pipelines.items())]
    return lines


def write_report(results: ResultsFile, out_dir: str | Path) -> Path:
    """Write ``results.md`` and ``plots/`` into ``out_dir``; return the Markdown file's path."""
    out = Path(out_dir)
    meta = results.data["meta"]
    cells = results.cells
    lines = [f"# vpt-gym benchmark: suite `{meta.get('suite')}`", ""]
    lines.append(f"Started {meta.get('started')}; seed {meta.get('seed')}. Versions: "
                 + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()) + ".")
    machine = meta.get("machine", {})
    lines.append(f"Machine: {machine.get('cpu', '?')}, {machine.get('cpu_count', '?')} cores, "
                 f"torch threads {machine.get('torch_threads', '?')}.")
    if meta.get("skipped"):
        lines += ["", f"**Skipped:** {meta['skipped']}"]
    if cells:
        lines += ["", "## Per task", "",
                  "Our columns: mean ± standard error over episodes. Normalised score = (return − random) / "
                  "(expert − random) with GenRL's random/expert returns. "
                  f"The last column is published, not ours: {GENRL_TABLE1_SOURCE}.", "",
                  "| task | agent | episodes | return | normalised | published GenRL |",
                  "|---|---|---|---|---|---|"]
        for cell in sorted(cells.values(), key=lambda c: (c["env_id"], c["agent"])):
            ret = _fmt(*mean_se(cell["returns"]), digits=1)
            norm = _fmt(*mean_se(cell["normalized"])) if "normalized" in cell else "–"
            pub = GENRL_TABLE1.get(cell.get("task", ""))
            pub_s = _fmt(*pub) if pub else "–"
            name = cell.get("task", cell["env_id"])
            lines.append(f"| {name} | {cell.get('agent_label', cell['agent'])} | {len(cell['returns'])} | "
                         f"{ret} | {norm} | {pub_s} |")
        dom = domain_scores(cells)
        if dom:
            lines += ["", "## Per domain", "", "Mean ± s.e. over the domain's tasks of each task's mean "
                      "normalised score.", "", "| domain | agent | normalised |", "|---|---|---|"]
            lines += [f"| {d} | {a} | {_fmt(*v)} |" for (d, a), v in dom.items()]
            lines += ["", "## Overall", "", "| agent | normalised (mean ± s.e. over tasks) | published GenRL overall "
                      "(Table 1, 14 in-data tasks) |", "|---|---|---|"]
            lines += [f"| {a} | {_fmt(*v)} | {_fmt(*GENRL_TABLE1_OVERALL)} |" for a, v in overall_scores(cells).items()]
            plot_domains(dom, out / "plots" / "normalized_by_domain.png")
            lines += ["", "![normalised score per domain](plots/normalized_by_domain.png)"]
        videos = [c["video"] for c in cells.values() if c.get("video")]
        if videos:
            lines += ["", "## Videos", "", "First episode of each cell (every 2nd frame): "
                      + ", ".join(f"[{v}](videos/{v})" for v in sorted(videos))]
    lines += _crafter_section(cells)
    lines += items_section(cells, out)
    lines += learning_curve_section({**cells, **pipeline_curves(results.pipelines)}, out)
    for name, result in results.pipelines.items():
        lines += ["", f"## Pipeline: {name}", ""] + list(result["table"])
    lines += _skipped_section(results.data.get("skipped_cells", {}), results.data.get("skipped_pipelines", {}))
    for name, rows in results.perf.items():
        lines += ["", f"## Performance: {name}", ""] + _perf_table(rows)
    path = out / "results.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

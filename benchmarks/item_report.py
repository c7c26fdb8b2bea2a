"""The report section of VPT's item tasks (``vpt-minerl``): per-item success rates per agent, and their plot.

Cells whose env reported ``items`` (:class:`benchmarks.minerl_items.ItemProgress`) get one row per item:
success rate (% of episodes that obtained it) and the mean step it was first obtained. VPT's published
rollout numbers are in their own labelled column.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


from benchmarks.minerl_items import ITEMS, item_success
from benchmarks.published import VPT_ITEMS, VPT_ITEMS_SOURCE
from benchmarks.results import task_label


def plot_items(rates: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Bar groups of success rate (%) per item in tech-tree order, one bar per (task, agent)."""
    from benchmarks.success_plot import plot_success_rates

    series = {name: [rates[name][item] for item in ITEMS] for name in rates}
    return plot_success_rates(series, ITEMS, "VPT item tasks: share of episodes that obtained each item (ours)",
                              path, figsize=(9, 4.2))


def items_section(cells: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[str]:
    """Markdown lines for every cell with item records (nothing when there is none)."""
    item_cells = [c for c in cells.values() if c.get("items")]
    if not item_cells:
        return []
    lines = ["", "## VPT item tasks", "",
             "Ours: share of episodes whose inventory held the item at least once (first step the count was > 0), "
             "and the mean step it was first obtained. The last column is published, not ours: "
             f"{VPT_ITEMS_SOURCE}.", "",
             "| task | agent | episodes | item | success rate (%) | mean first step | published VPT (%) |",
             "|---|---|---|---|---|---|---|"]
    rates: dict[str, dict[str, float]] = {}
    for cell in sorted(item_cells, key=lambda c: (task_label(c), c["agent"])):
        success = item_success(list(cell["items"]))
        agent = cell.get("agent_label", cell["agent"])
        rates[f"{task_label(cell)} {agent}"] = {k: v["success_rate"] for k, v in success.items()}
        for item, s in success.items():
            first = "–" if s["mean_first_step"] is None else f"{s['mean_first_step']:.0f}"
            pub = VPT_ITEMS.get(item)
            lines.append(f"| {task_label(cell)} | {agent} | {len(cell['items'])} | {item} | "
                         f"{100.0 * s['success_rate']:.1f} | {first} | {'–' if pub is None else pub} |")
    plot_items(rates, Path(out_dir) / "plots" / "minerl_items.png")
    lines += ["", "![item success rates](plots/minerl_items.png)"]
    return lines

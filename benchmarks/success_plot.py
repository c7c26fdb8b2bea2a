"""One grouped bar chart of success rates, shared by the Crafter tech-tree plot and VPT's item plot."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


def plot_success_rates(rates: Mapping[str, Sequence[float]], steps: Sequence[str], title: str, path: Path,
                       figsize: tuple[float, float] = (10, 4.4)) -> Path:
    """Bar groups of success rates (fractions in [0, 1], shown as %), one group per step, one bar per series.

    :param rates: series label -> one rate per entry of ``steps``.
    :param steps: the x-axis categories in order (tech-tree order).
    :param title: plot title. :param path: PNG to write. :param figsize: matplotlib figure size.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rates)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(steps))
    fig, ax = plt.subplots(figsize=figsize)
    for i, name in enumerate(names):
        if len(rates[name]) != len(steps):
            raise ValueError(f"series {name!r} has {len(rates[name])} rates, expected {len(steps)} ({list(steps)})")
        ax.bar(x + i * width, [100.0 * float(r) for r in rates[name]], width, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, [s.replace("_", "\n") for s in steps], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("success rate (% of episodes)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

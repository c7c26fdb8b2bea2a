"""The report section of the ``vpt_crafter`` pipeline (the VPT method on Crafter): tables and the tech-tree plot.

Input: the dict returned by ``benchmarks.vpt_crafter.run(args)``::

    {"env_steps": {"ppo_scratch": int, "bc_klppo": int}, "idm_accuracy": float, "labelled_steps": int,
     "unlabelled_steps": int, "timings_s": {stage: seconds},
     "agents": {name: {"returns": [float, ...], "achievements": {achievement: success rate in [0, 1]},
                       "score": Crafter score in percent, "episodes": int}}}

Optionally ``"learning_curves": {agent: {"steps": [...], "returns": [...]}}`` (GT return vs env steps of the
agents it trains) is plotted by the report's learning-curve section (:func:`benchmarks.learning_curves.pipeline_curves`).

Output: Markdown lines with our Crafter score and per-achievement success rates per agent (our env-step
budget stated), the published Crafter scores (1M steps) in their own labelled column beside ours (random's and
PPO's, next to our random and PPO from scratch) and in their own table (all four; never mixed into ours), and a plot
of success rate per achievement along Crafter's tech tree, one bar group per agent, like VPT's item plots.

Example::

    >>> lines = crafter_tables(example_results())
    >>> any(line.startswith("| BC + KL-PPO |") for line in lines)
    True
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any, Mapping

from benchmarks.intervals import estimate, format_estimate
from benchmarks.published import CRAFTER_SCORES, CRAFTER_SOURCE

#: Crafter's diamond path, the analogue of VPT's log -> diamond items.
TECH_TREE = ("collect_wood", "place_table", "make_wood_pickaxe", "collect_stone", "make_stone_pickaxe",
             "collect_iron", "make_iron_pickaxe", "collect_diamond")
#: display names of the pipeline's agents (others are shown as they are named).
AGENT_LABELS = {
    "random": "random",
    "demonstrator": "demonstrator (scripted; plays the demonstrations)",
    "ppo_scratch": "PPO from scratch",
    "bc_true": "BC (true actions)",
    "bc_pseudo": "BC (IDM pseudo-labels)",
    "bc_klppo": "BC + KL-PPO",
}
AGENT_ORDER = ("random", "demonstrator", "ppo_scratch", "bc_true", "bc_pseudo", "bc_klppo")
PUBLISHED_STEPS = "1M"
#: Our agents that have a published counterpart, shown in its own column of our score table.
PUBLISHED_COUNTERPART: dict[str, str] = {"random": "random", "ppo_scratch": "PPO"}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"vpt_crafter results: {where} must be a finite number, got {value!r}")
    return float(value)


def check_results(results: Mapping[str, Any]) -> None:
    """Validate the shape of ``vpt_crafter.run``'s results; the error names the wrong key and what was expected.

    :raises ValueError: a missing key, a wrong type, or a success rate outside [0, 1].
    """
    for key in ("env_steps", "idm_accuracy", "labelled_steps", "unlabelled_steps", "timings_s", "agents"):
        if key not in results:
            raise ValueError(f"vpt_crafter results lack {key!r}; expected keys env_steps, idm_accuracy, "
                             f"labelled_steps, unlabelled_steps, timings_s, agents (got {sorted(results)})")
    if not isinstance(results["agents"], Mapping) or not results["agents"]:
        raise ValueError(f"vpt_crafter results: 'agents' must be a non-empty dict, got {results['agents']!r}")
    for name, agent in results["agents"].items():
        for key in ("returns", "achievements", "score", "episodes"):
            if key not in agent:
                raise ValueError(f"vpt_crafter results: agent {name!r} lacks {key!r} "
                                 "(expected returns, achievements, score, episodes)")
        for ach, rate in agent["achievements"].items():
            r = _number(rate, f"agents[{name!r}].achievements[{ach!r}]")
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"vpt_crafter results: agents[{name!r}].achievements[{ach!r}] = {rate!r} is not a "
                                 "success rate in [0, 1]")
        _number(agent["score"], f"agents[{name!r}].score")
        for i, ret in enumerate(agent["returns"]):
            _number(ret, f"agents[{name!r}].returns[{i}]")
    _number(results["idm_accuracy"], "idm_accuracy")


def ordered_agents(agents: Mapping[str, Any]) -> list[str]:
    known = [a for a in AGENT_ORDER if a in agents]
    return known + sorted(a for a in agents if a not in AGENT_ORDER)


def label(name: str) -> str:
    return AGENT_LABELS.get(name, name)


def _pct(rate: float) -> str:
    return f"{100.0 * rate:.1f}"


def crafter_tables(results: Mapping[str, Any], plot: str | None = None) -> list[str]:
    """Markdown lines: budget, our score and tech-tree success rates per agent, every achievement, published scores.

    :param results: ``vpt_crafter.run``'s dict (validated with :func:`check_results`).
    :param plot: the tech-tree plot's path relative to ``results.md`` (shown when given).
    """
    check_results(results)
    agents = results["agents"]
    names = ordered_agents(agents)
    steps = results["env_steps"]
    lines = [
        "The VPT method on Crafter: a scripted demonstrator's episodes, an inverse dynamics model (IDM) trained on "
        "the labelled part, pseudo-labels for the unlabelled part, behavioural cloning (BC), then KL-regularised PPO.",
        "",
        f"**Our budget:** PPO from scratch {steps.get('ppo_scratch', 0):,} env steps; BC + KL-PPO "
        f"{steps.get('bc_klppo', 0):,} env steps of RL fine-tuning; IDM trained on {results['labelled_steps']:,} "
        f"labelled steps, BC on {results['unlabelled_steps']:,} pseudo-labelled steps; IDM action accuracy "
        f"{100.0 * float(results['idm_accuracy']):.1f}% (held-out). Our episodes are the pipeline's (shorter than "
        f"Crafter's 10,000 steps); the published numbers below used {PUBLISHED_STEPS} env steps.",
        "",
        "Ours: Crafter score (geometric mean over the 22 achievements, %) and success rate (% of episodes) of the "
        "tech-tree achievements.",
        "",
        f"| agent | episodes | return | Crafter score (%) | published score (%), {PUBLISHED_STEPS} steps, not ours | "
        + " | ".join(a.replace("_", " ") for a in TECH_TREE) + " |",
        "|---|---|---|---|---|" + "---|" * len(TECH_TREE),
    ]
    for name in names:
        a = agents[name]
        ret = format_estimate(estimate([a["returns"]]), digits=2) if len(a["returns"]) else "–"
        rates = " | ".join(_pct(float(a["achievements"].get(t, 0.0))) for t in TECH_TREE)
        counterpart = PUBLISHED_COUNTERPART.get(name)
        published = f"{CRAFTER_SCORES[counterpart]} ({counterpart})" if counterpart in CRAFTER_SCORES else "–"
        lines.append(f"| {label(name)} | {a['episodes']} | {ret} | {float(a['score']):.2f} | {published} | {rates} |")
    everything = sorted({ach for n in names for ach in agents[n]["achievements"]})
    rest = [ach for ach in everything if ach not in TECH_TREE]
    if rest:
        lines += ["", "Ours: the other achievements (success rate, %).", "",
                  "| achievement | " + " | ".join(label(n) for n in names) + " |",
                  "|---|" + "---|" * len(names)]
        for ach in rest:
            lines.append(f"| {ach.replace('_', ' ')} | "
                         + " | ".join(_pct(float(agents[n]["achievements"].get(ach, 0.0))) for n in names) + " |")
    lines += ["", f"Published, not ours ({CRAFTER_SOURCE}; {PUBLISHED_STEPS} env steps each):", "",
              "| published agent | Crafter score (%) |", "|---|---|"]
    lines += [f"| {name} | {score} |" for name, score in CRAFTER_SCORES.items()]
    if plot:
        lines += ["", f"![success rate along the tech tree]({plot})"]
    timings = results.get("timings_s") or {}
    if timings:
        lines += ["", "Stage times (s): " + ", ".join(f"{k} {float(v):.0f}" for k, v in timings.items())]
    return lines


def plot_tech_tree(results: Mapping[str, Any], path: Path) -> Path:
    """Bar groups of success rate (%) per tech-tree achievement, one bar per agent (ours only)."""
    from benchmarks.success_plot import plot_success_rates

    check_results(results)
    agents = results["agents"]
    rates = {label(name): [float(agents[name]["achievements"].get(t, 0.0)) for t in TECH_TREE]
             for name in ordered_agents(agents)}
    return plot_success_rates(rates, TECH_TREE, "Crafter tech tree: share of episodes reaching each step (ours)",
                              path, figsize=(10, 4.4))


def example_results() -> dict[str, Any]:
    """A small, made-up results dict of the documented shape (for examples and tests; not a measurement)."""
    return {
        "env_steps": {"ppo_scratch": 1000, "bc_klppo": 1000}, "idm_accuracy": 0.5, "labelled_steps": 100,
        "unlabelled_steps": 400, "timings_s": {"idm": 1.0},
        "agents": {"random": {"returns": [0.1, 1.1], "achievements": {"collect_wood": 0.5}, "score": 0.8,
                              "episodes": 2},
                   "bc_klppo": {"returns": [2.1, 3.1], "achievements": {"collect_wood": 1.0, "place_table": 0.5},
                                "score": 2.5, "episodes": 2}},
    }

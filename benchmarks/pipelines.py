"""End-to-end pipelines a suite can include: name -> ``run(out_dir, quick) -> results dict``.

A pipeline trains something and evaluates it (unlike a perf measurement, which times something). Its
results dict holds raw numbers plus ``"table"``, the Markdown lines the report shows, and ``"plots"``, the
paths (relative to the output directory) of the figures it made, which the report links.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable


class PipelineUnavailable(RuntimeError):
    """The pipeline cannot run here (its module or an extra is missing); the message says what is needed."""


def _genrl_end_to_end(out_dir: Path, quick: bool, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """GenRL's whole path on walker: exploration data, small MFWM, a rendered pose video as the prompt,
    data-free behaviour learning, evaluation against random and zero-action policies."""
    from benchmarks.genrl_end_to_end import Args, run
    from benchmarks.intervals import estimate, format_estimate
    from benchmarks.report_flags import SATURATED_PREFIXES, genrl_pipeline_flags

    run_dir = out_dir / "genrl_end_to_end" / f"seed{seed}-{'quick' if quick else 'full'}"
    if quick:  # a few minutes on 2 cores: shows the path runs end to end, far too short to learn much
        args = Args(run_dir=str(run_dir), episodes=4, wm_steps=100, wm_batch=8, wm_length=32, behaviour_steps=100,
                    behaviour_batch=16, behaviour_length=16, eval_episodes=2, check_episodes=1, seed=seed,
                    progress=progress)
    else:
        args = Args(run_dir=str(run_dir), seed=seed, progress=progress)
    results = run(args)
    rows = [("GenRL data-free (video prompt)", "genrl"), ("random policy", "random"), ("zero action", "zero_action")]
    check = results.get("prompt_reward_check") or {}
    prompt = run_dir.relative_to(out_dir) / "prompt.gif"
    table = [f"Task `{results['task']}`, prompt: [a rendered video of the pose '{results['pose']}']({prompt.as_posix()}). "
             f"VLM: {results['vlm']}. Budget: {args.episodes} exploration episodes, {args.wm_steps} world-model "
             f"updates, {args.behaviour_steps} behaviour updates. Evaluation episodes are reset with seeds "
             f"{10_000 + seed}.., the prompt-reward check uses the first {args.check_episodes} of them.", "",
             "| policy | n | return | normalised (of the mean return) | GenRL prompt reward/step (real episodes) "
             "| per-step std |",
             "|---|---|---|---|---|---|"]
    flags = genrl_pipeline_flags(results)
    saturated = any(f.startswith(SATURATED_PREFIXES) for f in flags)
    for name, key in rows:
        r = results[key]
        norm = "–" if r["normalized_score"] is None else f"{r['normalized_score']:.3f}"
        reward = f"{check[key]['prompt_reward_per_step']:.5f}" if key in check else "–"
        if saturated and key in check:
            reward += " (saturated: not a result, see flags)"
        std = f"{check[key]['step_std']:.4f}" if "step_std" in check.get(key, {}) else "–"
        ret = format_estimate(estimate([r["returns"]]), digits=1) if r.get("returns") else f"{r['mean_return']:.1f}"
        table.append(f"| {name} | {r['episodes']} | {ret} | {norm} | {reward} | {std} |")
    if flags:
        table += ["", "Flags (computed from these numbers):", ""] + [f"- {flag}" for flag in flags]
    table.append("")
    table.append("Stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in results["timings_s"].items()))
    return {"table": table, "flags": flags, "results": {k: v for k, v in results.items() if k != "behaviour_metrics"}}


def _vpt_crafter(out_dir: Path, quick: bool, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """The VPT method on Crafter (``benchmarks.vpt_crafter``): demonstrations -> IDM -> pseudo-labels -> BC ->
    KL-PPO, against random and PPO from scratch; Crafter scores, per-achievement success rates, tech-tree plot.

    ``benchmarks.vpt_crafter`` is imported here, not at module import, so the runner works without it."""
    try:
        from benchmarks.vpt_crafter import Args, run
    except ModuleNotFoundError as err:
        if err.name != "benchmarks.vpt_crafter":
            raise PipelineUnavailable(f"vpt_crafter needs {err.name!r}: pip install -e \".[crafter]\" (in the vpt-gym checkout)") from err
        raise PipelineUnavailable("vpt_crafter: benchmarks/vpt_crafter.py is not in this installation") from err
    size = "quick" if quick else "full"
    args = Args.quick() if quick else Args()
    names = {f.name for f in dataclasses.fields(args)}
    run_dir = out_dir / "vpt_crafter" / f"seed{seed}-{size}"
    overrides: dict[str, Any] = {}
    for field_name in ("run_dir", "out_dir"):
        if field_name in names:
            overrides[field_name] = str(run_dir)
    if "progress" in names:
        overrides["progress"] = progress
    if "seed" in names:
        overrides["seed"] = seed
    args = dataclasses.replace(args, **overrides)
    results = run(args)
    from benchmarks.crafter_report import crafter_tables, plot_tech_tree

    plot = f"plots/crafter_tech_tree_seed{seed}_{size}.png"
    plot_tech_tree(results, out_dir / plot)
    plots = [plot]
    if (run_dir / "achievements.png").is_file():
        plots.append((run_dir / "achievements.png").relative_to(out_dir).as_posix())
    table = [f"Run size: {'quick (Args.quick(), minutes; far below the published budget)' if quick else 'full (Args())'}.",
             ""] + crafter_tables(results, plot=plot)
    return {"table": table, "results": results, "plots": plots}


# name -> run(out_dir, quick, seed, progress) -> {"table": Markdown lines, "results": raw numbers, "plots": [paths]}
PIPELINES: dict[str, Callable[[Path, bool, int, bool], dict[str, Any]]] = {
    "genrl_end_to_end": _genrl_end_to_end,
    "vpt_crafter": _vpt_crafter,
}


def run_pipeline(name: str, out_dir: Path, quick: bool, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Run pipeline ``name`` into ``out_dir/<name>/seed<seed>-<quick|full>/`` (resumable there).

    :param progress: a bar over the pipeline's stages and its own step bars."""
    if name not in PIPELINES:
        raise KeyError(f"Unknown pipeline {name!r}; valid: {', '.join(PIPELINES)}")
    return PIPELINES[name](out_dir, quick, seed, progress)

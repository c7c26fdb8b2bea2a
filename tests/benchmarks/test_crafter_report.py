"""The ``vpt_crafter`` pipeline's report: tables against the documented results shape, published numbers apart,
the tech-tree plot, the lazy import, and the smoke / vpt-crafter suites."""
from __future__ import annotations

import dataclasses
import sys
import types

import pytest

import benchmarks.runner as runner
from benchmarks.crafter_report import TECH_TREE, check_results, crafter_tables, plot_tech_tree
from benchmarks.suites import SUITES, Suite


def fake_results():
    """A results dict of the shape benchmarks/vpt_crafter.py documents (made-up numbers)."""
    return {
        "env_steps": {"ppo_scratch": 20_000, "bc_klppo": 10_000}, "idm_accuracy": 0.875, "labelled_steps": 5_000,
        "unlabelled_steps": 45_000, "timings_s": {"demonstrations": 12.0, "idm": 30.4},
        "agents": {
            "bc_klppo": {"returns": [3.0, 5.0], "achievements": {"collect_wood": 1.0, "place_table": 0.5,
                                                                 "collect_sapling": 0.25}, "score": 3.25,
                         "episodes": 2},
            "random": {"returns": [1.0], "achievements": {"collect_wood": 0.5}, "score": 0.75, "episodes": 1},
            "ppo_scratch": {"returns": [2.0, 2.0], "achievements": {}, "score": 0.0, "episodes": 2},
        },
    }


def test_tables_show_our_numbers_budget_and_published_numbers_apart():
    lines = crafter_tables(fake_results(), plot="plots/crafter_tech_tree.png")
    text = "\n".join(lines)
    # agents in pipeline order; mean return (the range of 2-4 episodes, no s.e.); score; the 8 tech-tree rates in %
    rows = [line for line in lines if line.startswith("| ") and "Crafter score" not in line]
    # the published score of an agent's counterpart sits in its own labelled column, beside ours
    header = next(line for line in lines if line.startswith("| agent |"))
    assert header.startswith("| agent | episodes | return | Crafter score (%) | published score (%), 1M steps, not ours |")
    assert rows[0] == "| random | 1 | 1.00 | 0.75 | 1.6 (random) | 50.0 | " + " | ".join(["0.0"] * 7) + " |"
    assert rows[1] == "| PPO from scratch | 2 | 2.00 (range 2.00 to 2.00) | 0.00 | 4.6 (PPO) | " + " | ".join(["0.0"] * 8) + " |"
    assert rows[2] == "| BC + KL-PPO | 2 | 4.00 (range 3.00 to 5.00) | 3.25 | – | 100.0 | 50.0 | " + " | ".join(["0.0"] * 6) + " |"
    assert "| collect sapling | 0.0 | 0.0 | 25.0 |" in lines  # the other achievements, per agent
    assert "PPO from scratch 20,000 env steps" in text and "BC + KL-PPO 10,000 env steps" in text
    assert "IDM action accuracy 87.5%" in text and "45,000 pseudo-labelled steps" in text
    # published numbers: their own labelled table, after ours, never in our rows
    published_at = next(i for i, line in enumerate(lines) if line.startswith("Published, not ours"))
    assert published_at > lines.index(rows[2]) and "| collect sapling" not in "\n".join(lines[published_at:])
    assert lines[published_at + 2:published_at + 8] == ["| published agent | Crafter score (%) |", "|---|---|",
                                                        "| random | 1.6 |", "| PPO | 4.6 |", "| DreamerV3 | 14.5 |",
                                                        "| human experts | 50.5 |"]
    assert "1M env steps" in lines[published_at]
    assert "![success rate along the tech tree](plots/crafter_tech_tree.png)" in lines


@pytest.mark.parametrize("mutate, match", [
    (lambda r: r.pop("env_steps"), "lack 'env_steps'"),
    (lambda r: r["agents"]["random"].pop("score"), "agent 'random' lacks 'score'"),
    (lambda r: r["agents"]["random"]["achievements"].update(collect_wood=50.0), r"collect_wood.*50.0.*\[0, 1\]"),
    (lambda r: r["agents"]["random"]["returns"].append(float("nan")), r"returns\[1\] must be a finite number"),
    (lambda r: r.update(agents={}), "'agents' must be a non-empty dict"),
])
def test_wrong_results_are_clear_errors(mutate, match):
    results = fake_results()
    mutate(results)
    with pytest.raises(ValueError, match=match):
        check_results(results)


def test_tech_tree_plot_is_written(tmp_path):
    path = plot_tech_tree(fake_results(), tmp_path / "p.png")
    assert path.stat().st_size > 5000
    assert TECH_TREE[0] == "collect_wood" and TECH_TREE[-1] == "collect_diamond" and len(TECH_TREE) == 8


def _fake_vpt_crafter_module(calls):
    @dataclasses.dataclass
    class Args:
        run_dir: str = "runs/vpt_crafter"
        size: str = "full"
        progress: bool = True

        @classmethod
        def quick(cls):
            return cls(size="quick")

    def run(args):
        calls.append(args)
        return fake_results()

    module = types.ModuleType("benchmarks.vpt_crafter")
    module.Args, module.run = Args, run
    return module


@pytest.mark.parametrize("suite_name, size", [("smoke", "quick"), ("vpt-crafter", "full")])
def test_pipeline_runs_quick_in_smoke_and_full_in_its_suite(tmp_path, monkeypatch, suite_name, size):
    calls = []
    monkeypatch.setitem(sys.modules, "benchmarks.vpt_crafter", _fake_vpt_crafter_module(calls))
    suite = dataclasses.replace(SUITES[suite_name], tasks=(), perf=(), pipelines=("vpt_crafter",))
    results = runner.run_suite(suite, tmp_path)
    assert [(a.size, a.progress, a.run_dir) for a in calls] == [(size, True, str(tmp_path / "vpt_crafter" / f"seed0-{size}"))]
    assert results.find_pipeline("vpt_crafter")["results"]["idm_accuracy"] == 0.875
    md = (tmp_path / "results.md").read_text()
    assert f"## Pipeline: vpt_crafter (seed 0, {size} size)" in md and "| BC + KL-PPO | 2 | 4.00 (range 3.00 to 5.00) | 3.25 |" in md
    assert (tmp_path / "plots" / f"crafter_tech_tree_seed0_{size}.png").stat().st_size > 5000
    assert f"](plots/crafter_tech_tree_seed0_{size}.png)" in md
    runner.run_suite(suite, tmp_path)
    assert len(calls) == 1  # resumed, not rerun


def test_missing_vpt_crafter_module_skips_the_pipeline_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "benchmarks.vpt_crafter", None)  # import fails as if the file were absent
    results = runner.run_suite(Suite(name="c", description="", pipelines=("vpt_crafter",)), tmp_path)
    assert results.find_pipeline("vpt_crafter") is None and results.nothing_evaluated()
    assert "benchmarks/vpt_crafter.py" in results.find_skipped_pipeline("vpt_crafter")
    assert "skipped pipeline vpt_crafter" in capsys.readouterr().out
    assert "pipeline `vpt_crafter`" in (tmp_path / "results.md").read_text()


def test_smoke_gains_only_the_quick_crafter_pipeline():
    assert SUITES["smoke"].pipelines == ("genrl_end_to_end", "vpt_crafter")
    assert SUITES["smoke"].pipeline_size == "quick" and SUITES["smoke"].agents == ("random",)
    assert SUITES["vpt-crafter"].pipeline_size == "full"
    with pytest.raises(ValueError, match="pipeline_size must be 'quick' or 'full', got 'big'"):
        Suite(name="x", description="", pipeline_size="big")


def test_pipeline_learning_curves_are_plotted_when_reported(tmp_path, monkeypatch):
    calls = []
    module = _fake_vpt_crafter_module(calls)
    with_curves = fake_results() | {"learning_curves": {"ppo_scratch": {"steps": [100, 200], "returns": [0.5, 1.5]}}}
    module.run = lambda args: with_curves
    monkeypatch.setitem(sys.modules, "benchmarks.vpt_crafter", module)
    runner.run_suite(Suite(name="c", description="", pipelines=("vpt_crafter",)), tmp_path)
    md = (tmp_path / "results.md").read_text()
    assert "| pipeline vpt_crafter | ppo_scratch | 2 | 200 | 1.0 |" in md
    assert (tmp_path / "plots" / "learning_curves.png").stat().st_size > 5000

"""A seconds-long miniature of the benchmark runner: cells, resume, report, errors."""
from __future__ import annotations

import json
import math

import pytest

import benchmarks.runner as runner
from benchmarks.report import domain_scores, mean_se, write_report
from benchmarks.results import ResultsFile
from benchmarks.suites import SUITES, Suite, get_suite

MINI = Suite(name="mini", description="test", tasks=("CartPole-v1",), agents=("random",), episodes=3,
             perf=("minerl_wrapper_overhead",))


def test_runs_cells_writes_report_and_resumes(tmp_path, monkeypatch):
    import benchmarks.perf as perf
    from benchmarks.minerl_wrapper_overhead import measure

    # the real measurement with fewer calls: the test checks the plumbing, not the figure
    monkeypatch.setitem(perf.MEASUREMENTS, "minerl_wrapper_overhead", lambda quick: measure(calls=30))
    results = runner.run_suite(MINI, tmp_path, seed=5)
    data = json.loads((tmp_path / "results.json").read_text())
    (key, cell), = data["cells"].items()
    assert key.startswith("CartPole-v1|random|seed=5|episodes=3|") and cell["identity"]["seed"] == 5
    assert cell["seeds"] == [5, 6, 7]
    assert len(cell["returns"]) == 3 and all(r >= 1 for r in cell["returns"])
    assert cell["lengths"] == [int(r) for r in cell["returns"]]  # CartPole: +1 per step
    assert data["meta"]["versions"]["vpt-gym"]
    perf = data["perf"]["minerl_wrapper_overhead|quick"]["rows"]
    assert perf[0]["ratio_to_raw"] == 1.0 and perf[1]["us_per_step"] > 0
    md = (tmp_path / "results.md").read_text()
    assert "CartPole-v1" in md and "Performance: minerl_wrapper_overhead (quick)" in md
    assert results.has_cell(key)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(runner, "evaluate", must_not_run)
    monkeypatch.setattr(runner, "run_measurement", must_not_run)
    runner.run_suite(MINI, tmp_path, seed=5)  # everything already there


def test_same_seed_same_returns(tmp_path):
    a = runner.evaluate("CartPole-v1", "random", 2, seed=11)
    b = runner.evaluate("CartPole-v1", "random", 2, seed=11)
    assert a["returns"] == b["returns"]


def test_unknown_names_are_clear_errors(tmp_path):
    with pytest.raises(KeyError, match="valid suites: smoke"):
        get_suite("smok")
    with pytest.raises(KeyError, match="Unknown task"):
        runner.run_suite(MINI, tmp_path, tasks=["vpt_gym/walker-wlak-v0"])
    with pytest.raises(KeyError, match="Unknown benchmark agent"):
        runner.evaluate("CartPole-v1", "genius", 1, seed=0)


def test_suite_needing_a_missing_extra_is_skipped_with_a_message(tmp_path, capsys):
    suite = Suite(name="needs", description="", tasks=("CartPole-v1",), requires="no_such_module_xyz")
    runner.run_suite(suite, tmp_path)
    assert 'pip install -e ".[no_such_module_xyz]"' in capsys.readouterr().out
    assert "Skipped" in (tmp_path / "results.md").read_text()


def test_task_whose_extra_is_missing_is_skipped_and_reported(tmp_path, monkeypatch):
    from vpt_gym.optional import MissingDependency

    def missing(*args, **kwargs):
        raise MissingDependency('needs gymnasium_robotics. Install it with: pip install -e ".[kitchen]"')

    monkeypatch.setattr(runner, "evaluate", missing)
    suite = Suite(name="k", description="", tasks=("vpt_gym/kitchen-microwave-v0",))
    results = runner.run_suite(suite, tmp_path)
    assert results.cells == {} and results.nothing_evaluated()
    assert 'pip install -e ".[kitchen]"' in results.find_skipped("vpt_gym/kitchen-microwave-v0", "random")
    assert "- `kitchen_microwave / random`: needs gymnasium_robotics" in (tmp_path / "results.md").read_text()


def test_corrupt_results_file_is_reported(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ResultsFile(tmp_path, {})


def test_domain_scores_and_report_with_published_column(tmp_path):
    assert mean_se([1.0, 3.0]) == (2.0, 1.0)
    assert mean_se([4.0])[0] == 4.0 and math.isnan(mean_se([4.0])[1])  # one value has no standard error
    results = ResultsFile(tmp_path, {"suite": "t"})
    results.cells["a"] = {"env_id": "vpt_gym/walker-walk-v0", "agent": "random", "task": "walker_walk",
                          "domain": "walker", "returns": [45.0, 960.0], "lengths": [500, 500],
                          "normalized": [0.0, 1.0]}
    results.cells["b"] = {"env_id": "vpt_gym/walker-run-v0", "agent": "random", "task": "walker_run",
                          "domain": "walker", "returns": [30.0], "lengths": [500], "normalized": [0.0]}
    scores = domain_scores(results.cells)
    walker = scores[("walker", "random")]
    assert walker.mean == pytest.approx(0.25) and walker.strata == 2 and walker.ci is None  # 1-2 episodes: no CI
    md = write_report(results, tmp_path).read_text()
    # n and the range of 2 episodes, never a standard error of 2 episodes; the published column keeps its s.e.
    # (a random episode at the expert's return: walker_walk's normalised score is flagged, from the data)
    assert "| walker_walk | random | 2 | 502.5 (range 45.0 to 960.0) | 0.50 (range 0.00 to 1.00) † | 0.95 ± 0.03 |" in md
    assert "- `walker_walk`: our random agent scores 0.50 here" in md and "1 of 2 episodes reach 0.9" in md
    assert "| walker_run | random | 1 | 30.0 | 0.00 | 0.76 ± 0.01 |" in md  # one episode: the value alone
    assert "| walker | random | 2 | 1–2 | 0.25 † (walker_walk) |" in md  # mean of task means, no "± 0.00"
    assert "± 0.00" not in md.split("## Per domain")[1].replace("0.73 ± 0.05", "")
    assert (tmp_path / "plots" / "normalized_by_domain.png").stat().st_size > 1000
    assert "](plots/normalized_by_domain.png)" in md


def test_every_suite_names_known_agents_measurements_and_pipelines():
    from benchmarks.agents import AGENTS
    from benchmarks.perf import MEASUREMENTS
    from benchmarks.pipelines import PIPELINES

    from benchmarks.agents import AgentOptions, merged_settings

    for suite in SUITES.values():
        assert set(suite.agents) <= set(AGENTS), suite.name
        for agent in suite.agent_settings:
            merged_settings(suite.agent_settings, AgentOptions(), agent)  # raises on an unknown setting
        assert set(suite.perf) <= set(MEASUREMENTS), suite.name
        assert set(suite.pipelines) <= set(PIPELINES), suite.name


def test_pipeline_results_are_stored_reported_and_not_rerun(tmp_path, monkeypatch):
    calls = []

    def fake_pipeline(name, out_dir, quick, seed, progress):
        calls.append((name, quick, seed))
        return {"table": ["| policy | return |", "|---|---|", "| genrl | 7.0 |"], "results": {"x": 1}}

    monkeypatch.setattr(runner, "run_pipeline", fake_pipeline)
    suite = Suite(name="p", description="", pipelines=("genrl_end_to_end",))
    runner.run_suite(suite, tmp_path)
    runner.run_suite(suite, tmp_path)
    assert calls == [("genrl_end_to_end", True, 0)]
    md = (tmp_path / "results.md").read_text()
    assert "## Pipeline: genrl_end_to_end (seed 0, quick size)" in md and "| genrl | 7.0 |" in md
    runner.run_suite(suite, tmp_path, seed=3)  # another seed: the pipeline runs again, for that seed
    assert calls[-1] == ("genrl_end_to_end", True, 3)
    assert "## Pipeline: genrl_end_to_end (seed 3, quick size)" in (tmp_path / "results.md").read_text()


def test_dm_control_cell_has_normalized_scores_and_a_video(tmp_path):
    cell = runner.evaluate("vpt_gym/walker-stand-v0", "random", 2, seed=0,
                           env_kwargs={"render_quality": "fast", "size": 32}, video_path=tmp_path / "v.gif")
    assert cell["task"] == "walker_stand" and cell["domain"] == "walker"
    assert cell["lengths"] == [500, 500]
    assert cell["normalized"] == pytest.approx([(r - 150) / (970 - 150) for r in cell["returns"]])
    assert (tmp_path / "v.gif").stat().st_size > 0 and cell["video"] == "v.gif"


def test_crafter_cell_records_achievements_and_the_report_shows_the_crafter_score(tmp_path):
    suite = Suite(name="c", description="", tasks=("vpt_gym/Crafter-v1",), episodes=2,
                  env_kwargs={"crafter": {"length": 60}, "dmc": {"render_quality": "fast"}})
    results = runner.run_suite(suite, tmp_path, seed=1, videos=False)
    cell = results.find_cell("vpt_gym/Crafter-v1", "random")
    assert cell["env_kwargs"] == {"length": 60}  # only the crafter family's kwargs
    assert len(cell["achievements"]) == 2 and all(isinstance(a, list) for a in cell["achievements"])
    assert all(n <= 60 for n in cell["lengths"])
    md = (tmp_path / "results.md").read_text()
    assert "## Crafter" in md and "DreamerV3 14.5%" in md
    assert "| Crafter-v1 | random | 2 |" in md and "| Crafter-v1 | `vpt_gym/Crafter-v1` | length=60 | 1–2 |" in md
    assert "vpt_gym/Crafter-v1 |" not in md.replace("`vpt_gym/Crafter-v1` |", "")  # one name for the task

"""What a benchmark run tells the user: provenance and time in the report, warnings in a log file instead of
the progress bars, stage progress of pipelines, timing tables without empty columns."""
from __future__ import annotations

import logging
import warnings

import pytest

import benchmarks.perf as perf
import benchmarks.runner as runner
from benchmarks.provenance import ENV_PACKAGES, git_commit, versions
from benchmarks.report import perf_table
from benchmarks.run_log import log_to_file
from benchmarks.stage_progress import StageProgress
from benchmarks.suites import Suite


def _noisy_measurement(quick):
    warnings.warn("a library's DeprecationWarning-like message", UserWarning)
    logging.getLogger("some.library").warning("a library log line")
    return [{"name": "a", "us_per_step": 1.5, "gpu_ms": None}, {"name": "b", "us_per_step": 2.5}]


def test_report_states_command_commit_time_versions_and_the_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(perf.MEASUREMENTS, "noisy", _noisy_measurement)
    suite = Suite(name="n", description="", tasks=("CartPole-v1",), episodes=1, perf=("noisy",))
    results = runner.run_suite(suite, tmp_path, videos=False, command="vpt-gym bench --suite n")
    captured = capsys.readouterr()
    # the warnings went to the log, not into the terminal's progress bars
    log = (tmp_path / "bench.log").read_text()
    assert "a library's DeprecationWarning-like message" in log and "a library log line" in log
    assert "DeprecationWarning-like" not in captured.err + captured.out.split("library warning")[0]
    assert "2 library warning(s)/log message(s) of this run are in" in captured.out
    md = (tmp_path / "results.md").read_text()
    assert "Command: `vpt-gym bench --suite n`" in md
    commit = git_commit()
    assert commit is not None and f"git commit {commit}" in md  # the tests run from a git checkout
    assert "Measured time of this run: " in md and "cells " in md and results.meta["seconds"] > 0
    for dist in sorted({d for ds in ENV_PACKAGES.values() for d in ds}):
        assert f"{dist} {versions()[dist]}" in md  # every env package, "not installed" included
    assert "[bench.log](bench.log) (2 records)" in md
    # the timing table drops the column no row fills
    assert "| name | us_per_step |" in md and "gpu_ms" not in md


def test_perf_table_keeps_partly_filled_columns():
    rows = [{"a": 1.0, "b": None, "c": None}, {"a": 2.0, "b": 3.0}]
    assert perf_table(rows) == ["| a | b |", "|---|---|", "| 1 | – |", "| 2 | 3 |"]


def test_log_to_file_restores_logging_and_warnings(tmp_path):
    root = logging.getLogger()
    handlers = list(root.handlers)
    with log_to_file(tmp_path / "x.log") as log:
        warnings.warn("inside")
    assert log.records == 1 and root.handlers == handlers
    with pytest.warns(UserWarning, match="outside"):  # warnings are shown normally again
        warnings.warn("outside")
    assert "outside" not in (tmp_path / "x.log").read_text()


def test_stage_progress_times_every_stage_even_a_failing_one():
    stages = StageProgress("p", ["a", "b", "c"], enabled=False)
    with stages.stage("a"):
        pass
    with pytest.raises(RuntimeError), stages.stage("b"):
        raise RuntimeError("boom")
    stages.skip("c")
    stages.close()
    assert list(stages.seconds) == ["a", "b"] and stages.done == 3
    with pytest.raises(ValueError, match="unknown stage 'd'"):
        with stages.stage("d"):
            pass


def test_every_plot_of_a_run_is_linked(tmp_path, monkeypatch):
    def fake_pipeline(name, out_dir, quick, seed, progress):
        for rel in ("plots/extra.png", "fake_pipeline/seed0/achievements.png"):
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (out_dir / rel).write_bytes(b"png")
        return {"table": ["| x |", "|---|", "| 1 |", "", "![extra](plots/extra.png)"],
                "plots": ["plots/extra.png", "fake_pipeline/seed0/achievements.png"], "results": {}}

    monkeypatch.setattr(runner, "run_pipeline", fake_pipeline)
    suite = Suite(name="p", description="", tasks=("vpt_gym/walker-stand-v0",), episodes=1,
                  env_kwargs={"dmc": {"render_quality": "fast", "size": 32, "max_episode_steps": 5}},
                  pipelines=("genrl_end_to_end",))
    runner.run_suite(suite, tmp_path, videos=False)
    md = (tmp_path / "results.md").read_text()
    pngs = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert "plots/normalized_by_domain.png" in pngs
    for png in pngs:
        assert f"]({png})" in md, png
    assert md.count("](plots/extra.png)") == 1  # linked once although the table already links it

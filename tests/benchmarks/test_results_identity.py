"""A cell is keyed by everything that changes its result: a rerun with other settings on the same --out
computes (and labels) its own results instead of showing old ones; --episodes must be >= 1; a suite that
evaluates nothing exits non-zero."""
from __future__ import annotations

import json

import pytest

import benchmarks.runner as runner
from benchmarks.cli import main
from benchmarks.results import cell_identity, cell_key, describe_change, training_dir_name
from benchmarks.suites import SUITES, Suite

CART = Suite(name="cart", description="test", tasks=("CartPole-v1",), agents=("random",), episodes=2)


@pytest.fixture
def cart_suite(monkeypatch):
    monkeypatch.setitem(SUITES, "cart", CART)
    return CART


def test_two_seeds_on_one_out_give_two_labelled_results(tmp_path, cart_suite, capsys, monkeypatch):
    out = tmp_path / "o"
    assert main(["--suite", "cart", "--out", str(out), "--seed", "0", "--no-videos"]) == 0
    md0 = (out / "results.md").read_text()
    assert main(["--suite", "cart", "--out", str(out), "--seed", "1", "--no-videos"]) == 0
    said = capsys.readouterr().out
    assert "under other settings (seed 0 -> 1): computing them for this run's settings" in said
    data = json.loads((out / "results.json").read_text())
    assert len(data["cells"]) == 2 and [r["seed"] for r in data["runs"]] == [0, 1]
    (shown_key,) = data["meta"]["cell_keys"]
    cell = data["cells"][shown_key]
    assert cell["seeds"] == [1, 2] and cell["identity"]["seed"] == 1 and cell["seed"] == 1
    # the seed-1 numbers are the ones a fresh seed-1 evaluation gives, not the seed-0 cell's
    assert cell["returns"] == runner.evaluate("CartPole-v1", "random", 2, seed=1)["returns"]
    md1 = (out / "results.md").read_text()
    assert "seed 1 (episode i" in md1 and "| CartPole-v1 | `CartPole-v1` | – | 1–2 |" in md1
    assert "seed 0 (episode i" in md0 and "| CartPole-v1 | `CartPole-v1` | – | 0–1 |" in md0
    assert "1 cell(s) in results.json were made with other settings" in md1
    # back to seed 0: its cell is still there and is shown again, not recomputed
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: pytest.fail("the seed-0 cell was recomputed"))
    assert main(["--suite", "cart", "--out", str(out), "--seed", "0", "--no-videos"]) == 0
    assert (out / "results.md").read_text().count("| CartPole-v1 | `CartPole-v1` | – | 0–1 |") == 1


def test_every_result_changing_setting_changes_the_key():
    base = dict(seed=0, episodes=2, env_kwargs={"size": 64}, agent_settings={"steps": 10},
                agent_inputs={"vlm": "clip"}, env_maker=None, versions={"vpt-gym": "0.1.0", "mujoco": "3.17.0"})
    key = cell_key(cell_identity("E", "a", **base))
    assert key.startswith("E|a|seed=0|episodes=2|")
    for field, value in [("seed", 1), ("episodes", 3), ("env_kwargs", {"size": 32}), ("agent_settings", {"steps": 11}),
                         ("agent_inputs", {"vlm": "siglip"}), ("env_maker", "m:f"),
                         ("versions", {"vpt-gym": "0.2.0", "mujoco": "3.17.0"})]:
        assert cell_key(cell_identity("E", "a", **{**base, field: value})) != key, field
    # a trained agent's folder ignores the number of evaluation episodes only
    assert training_dir_name(cell_identity("E", "a", **base)) == training_dir_name(
        cell_identity("E", "a", **{**base, "episodes": 9}))
    assert training_dir_name(cell_identity("E", "a", **base)) != training_dir_name(
        cell_identity("E", "a", **{**base, "seed": 1}))
    new = cell_identity("E", "a", **{**base, "versions": {"vpt-gym": "0.2.0", "mujoco": "3.17.0"}})
    assert describe_change(cell_identity("E", "a", **base), new) == "versions vpt-gym 0.1.0 -> 0.2.0"
    assert "older vpt-gym" in describe_change(None, new)


def test_other_package_versions_or_episodes_recompute_with_a_message(tmp_path, capsys, monkeypatch):
    runner.run_suite(CART, tmp_path, videos=False)
    real = runner.family_versions
    monkeypatch.setattr(runner, "family_versions", lambda family: {**real(family), "gymnasium": "0.0.1"})
    results = runner.run_suite(CART, tmp_path, videos=False)
    assert "versions gymnasium" in capsys.readouterr().out and len(results.cells) == 2
    results = runner.run_suite(CART, tmp_path, videos=False, episodes=3)
    assert "episodes 2 -> 3" in capsys.readouterr().out
    assert [len(c["returns"]) for c in results.shown_cells().values()] == [3]


def test_a_results_file_of_an_older_vpt_gym_is_not_shown_as_this_runs(tmp_path, capsys):
    old_cell = {"env_id": "CartPole-v1", "agent": "random", "returns": [999.0, 999.0], "lengths": [9, 9],
                "seeds": [0, 1]}
    (tmp_path / "results.json").write_text(json.dumps({"meta": {"suite": "cart", "seed": 0},
                                                       "cells": {"CartPole-v1|random": old_cell}, "perf": {}}))
    results = runner.run_suite(CART, tmp_path, videos=False)
    assert "made by an older vpt-gym" in capsys.readouterr().out
    (cell,) = results.shown_cells().values()
    assert cell["returns"] != [999.0, 999.0] and "999.0" not in (tmp_path / "results.md").read_text()
    assert results.data["runs"][0] == {"suite": "cart", "seed": 0}  # the old run's metadata is kept


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_episodes_must_be_a_positive_integer(tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as err:
        main(["--suite", "smoke", "--episodes", bad, "--out", str(tmp_path)])
    assert err.value.code == 2
    assert "argument --episodes: must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_run_suite_refuses_bad_episodes(tmp_path, bad):
    with pytest.raises(ValueError, match="episodes must be a positive integer"):
        runner.run_suite(CART, tmp_path, episodes=bad)


def test_a_suite_whose_every_cell_is_skipped_exits_non_zero(tmp_path, cart_suite, capsys, monkeypatch):
    from vpt_gym.optional import MissingDependency

    def missing(*args, **kwargs):
        raise MissingDependency('needs crafter. Install it with: pip install -e ".[crafter]"')

    monkeypatch.setattr(runner, "evaluate", missing)
    assert main(["--suite", "cart", "--out", str(tmp_path / "o")]) == 1
    assert "nothing was evaluated: every cell and pipeline of suite 'cart' was skipped" in capsys.readouterr().err
    monkeypatch.setitem(SUITES, "needs", Suite(name="needs", description="", tasks=("CartPole-v1",),
                                               requires="no_such_module_xyz"))
    assert main(["--suite", "needs", "--out", str(tmp_path / "n")]) == 1
    # one skipped cell beside one that ran: the suite evaluated something
    monkeypatch.undo()
    real = runner.evaluate

    def only_cartpole(env_id, *args, **kwargs):
        if env_id != "CartPole-v1":
            missing()
        return real(env_id, *args, **kwargs)

    monkeypatch.setattr(runner, "evaluate", only_cartpole)
    monkeypatch.setitem(SUITES, "two", Suite(name="two", description="", tasks=("CartPole-v1", "Acrobot-v1")))
    assert main(["--suite", "two", "--out", str(tmp_path / "p"), "--no-videos"]) == 0

"""benchmarks/vpt_crafter.py: settings, stage skipping, the results shape; the whole quick run is ``slow``."""
from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks.vpt_crafter import AGENTS, TECH_TREE, Args, _episode_result, _stage, run
from vpt_gym.crafter_score import crafter_score
from vpt_gym.envs.crafter import ACHIEVEMENTS


def test_tech_tree_orders_all_22_achievements():
    assert sorted(TECH_TREE) == sorted(ACHIEVEMENTS) and len(TECH_TREE) == 22
    assert TECH_TREE[:3] == ("collect_wood", "place_table", "make_wood_pickaxe")


def test_quick_is_smaller_and_both_sizes_fit_the_policy_chunks():
    quick, full = Args.quick("/tmp/q"), Args()
    assert quick.run_dir == "/tmp/q"
    for name in ("episode_length", "labelled_episodes", "unlabelled_episodes", "rl_steps", "eval_episodes"):
        assert getattr(quick, name) < getattr(full, name), name
    for args in (quick, full):  # KLPPO with the VPT policy needs whole 16-step chunks
        assert args.n_steps % 16 == 0 and args.ppo_batch % 16 == 0 and (args.n_steps * args.n_envs) % args.ppo_batch == 0


def test_a_finished_stage_is_skipped(tmp_path):
    calls = []

    def work():
        calls.append(1)
        return {"value": 3}

    first = _stage(tmp_path, "demo", work)
    second = _stage(tmp_path, "demo", work)
    assert calls == [1] and first["value"] == second["value"] == 3 and second["seconds"] >= 0
    assert json.loads((tmp_path / "stages" / "demo.json").read_text()) == second


def test_episode_result_uses_the_crafter_score():
    episodes = [("collect_wood", "place_table"), ("collect_wood",)]
    result = _episode_result(episodes, [2.0, 1.0])
    assert result["episodes"] == 2 and result["returns"] == [2.0, 1.0]
    assert result["achievements"]["collect_wood"] == 1.0 and result["achievements"]["place_table"] == 0.5
    assert set(result["achievements"]) == set(ACHIEVEMENTS)
    assert result["score"] == pytest.approx(crafter_score(episodes))


@pytest.mark.slow
def test_quick_run_end_to_end_and_resume(tmp_path):
    args = dataclasses.replace(Args.quick(str(tmp_path / "run")), progress=False)
    result = run(args)
    assert set(result) == {"env_steps", "idm_accuracy", "labelled_steps", "unlabelled_steps", "timings_s", "agents"}
    assert result["env_steps"] == {"ppo_scratch": args.rl_steps, "bc_klppo": args.rl_steps}
    assert 0.0 <= result["idm_accuracy"] <= 1.0
    assert 0 < result["labelled_steps"] <= args.labelled_episodes * args.episode_length
    assert set(result["agents"]) == set(AGENTS)
    for agent in result["agents"].values():
        assert agent["episodes"] == args.eval_episodes == len(agent["returns"])
        assert all(0.0 <= r <= 1.0 for r in agent["achievements"].values()) and 0.0 <= agent["score"] <= 100.0
    assert (tmp_path / "run" / "achievements.png").is_file()
    again = run(args)  # every stage is found done: same numbers, nothing recomputed
    assert again == result


def test_rl_budget_is_whole_rollouts():
    for args in (Args.quick("/tmp/q"), Args()):
        assert args.rl_steps % (args.n_envs * args.n_steps) == 0  # so the reported env steps equal rl_steps

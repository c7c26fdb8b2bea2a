"""benchmarks/genrl_multitask.py: the per-task summary (estimates, 'beats' verdicts, ranking check), task
validation, and (slow) a tiny real run that trains one world model and serves two tasks, resumable."""
import json

import numpy as np
import pytest

from benchmarks.genrl_multitask import Args, format_report, summarise


def _policy_run(returns, prompts, step_std=0.05):
    return {"task_returns": list(returns), "prompt_reward_means": list(prompts), "step_std": step_std,
            "step_p05": min(prompts) - 0.1, "step_p95": max(prompts) + 0.1}


def _result(genrl_seeds, random, zero):
    return {"baselines": {"random": _policy_run(*random), "zero_action": _policy_run(*zero)},
            "seeds": {i: _policy_run(*s) for i, s in enumerate(genrl_seeds)}}


def test_summary_of_a_learned_policy_that_beats_both_baselines_and_a_reward_that_ranks_like_gt():
    seeds = [([600 + i for i in range(10)], [0.8] * 10), ([610 + i for i in range(10)], [0.75] * 10)]
    s = summarise("walker_stand", _result(seeds, ([200 + i for i in range(10)], [0.3] * 10),
                                          ([300 + i for i in range(10)], [0.5] * 10)))
    g = s["policies"]["genrl"]
    assert g["mean_return"] == pytest.approx(np.mean([604.5, 614.5]))
    assert g["n_seeds"] == 2 and g["n_episodes"] == 20 and g["seed_mean_range"] == [604.5, 614.5]
    assert g["normalized"] == pytest.approx((g["mean_return"] - 150) / (970 - 150))  # GenRL's table row
    assert s["beats_random"] and s["beats_zero_action"]
    assert s["gt_order"] == ["genrl", "zero_action", "random"] and s["prompt_ranks_like_gt"]


def test_summary_does_not_call_a_win_when_one_seed_loses_or_the_reward_ranks_wrongly():
    seeds = [([600] * 10, [0.2] * 10), ([250] * 10, [0.2] * 10)]  # second seed below the zero action
    s = summarise("walker_stand", _result(seeds, ([200 + i for i in range(10)], [0.3] * 10),
                                          ([300 + i for i in range(10)], [0.9] * 10)))
    assert not s["beats_zero_action"]
    assert s["beats_random"] is True
    assert not s["prompt_ranks_like_gt"] and s["prompt_order"][0] == "zero_action"
    text = format_report({"domain": "walker", "vlm": "random-features (offline stand-in)", "timings_s": {"tasks": 1.0},
                          "args": {"episodes": 2, "wm_steps": 3, "behaviour_steps": 4, "seeds": 2, "eval_episodes": 10},
                          "tasks": {"walker_stand": s}})
    assert "random-features (offline stand-in)" in text and "| walker_stand |" in text and "| yes, no |" in text


def test_pairs_tied_in_gt_are_named_and_the_prompt_is_judged_on_the_resolved_pairs():
    seeds = [([300 + i for i in range(10)], [0.5] * 10), ([310 + i for i in range(10)], [0.6] * 10)]
    random = ([100, 140, 120, 130, 110, 150, 90, 125, 135, 115], [0.2] * 10)  # mean 121.5
    zero = ([130, 110, 125, 120, 140, 100, 150, 115, 105, 135], [0.1] * 10)  # mean 123: tied with random
    s = summarise("walker_stand", _result(seeds, random, zero))
    assert s["gt_order"] == ["genrl", "zero_action", "random"] and s["prompt_order"] == ["genrl", "random", "zero_action"]
    assert not s["prompt_ranks_like_gt"]  # the strict check still fails
    by_pair = {tuple(p["pair"]): p for p in s["gt_pairs"]}
    assert set(by_pair) == {("genrl", "zero_action"), ("genrl", "random"), ("zero_action", "random")}
    tie = by_pair[("zero_action", "random")]
    assert tie["gt_difference"] == pytest.approx(1.5) and not tie["resolved"] and tie["ci"][0] < 0 < tie["ci"][1]
    assert not tie["prompt_agrees"]
    assert by_pair[("genrl", "random")]["resolved"] and by_pair[("genrl", "random")]["prompt_agrees"]
    # paired by reset seed: seed 0's episode i minus random's episode i, one stratum per GenRL seed
    assert by_pair[("genrl", "random")]["gt_difference"] == pytest.approx(np.mean([304.5, 314.5]) - 121.5)
    assert s["prompt_agrees_on_resolved_pairs"]
    text = format_report({"domain": "walker", "vlm": "x", "timings_s": {}, "tasks": {"walker_stand": s},
                          "args": {"episodes": 2, "wm_steps": 3, "behaviour_steps": 4, "seeds": 2, "eval_episodes": 10}})
    assert f"tied in GT: Z-R +2 [{tie['ci'][0]:.0f}, {tie['ci'][1]:.0f}]; prompt agrees on 2 of 2 resolved pairs" in text


def test_a_resolved_pair_the_prompt_orders_wrongly_fails_the_pair_check():
    seeds = [([600 + i for i in range(10)], [0.2] * 10)]
    s = summarise("walker_stand", _result(seeds, ([200 + i for i in range(10)], [0.3] * 10),
                                          ([300 + i for i in range(10)], [0.1] * 10)))
    assert all(p["resolved"] for p in s["gt_pairs"])
    assert not s["prompt_agrees_on_resolved_pairs"]
    # GT G>Z>R, prompt R>G>Z: G-Z right; G-R and Z-R wrong
    assert [(p["pair"], p["prompt_agrees"]) for p in s["gt_pairs"]] == [
        (["genrl", "zero_action"], True), (["genrl", "random"], False), (["zero_action", "random"], False)]


def test_pairing_by_reset_seed_needs_the_same_number_of_episodes():
    seeds = [([600] * 9, [0.2] * 9)]
    with pytest.raises(ValueError, match="same number of episodes"):
        summarise("walker_stand", _result(seeds, ([200] * 10, [0.3] * 10), ([300] * 10, [0.1] * 10)))


def test_tasks_must_have_a_prompt_clip_in_the_domain():
    assert Args(tasks="walker_stand, walker_run").task_list() == ["walker_stand", "walker_run"]
    with pytest.raises(ValueError, match="no prompt clip in domain 'walker'"):
        Args(tasks="walker_stand,cheetah_run").task_list()


def test_agent_steps_and_data_task_default_per_domain_and_a_flag_overrides_them():
    from benchmarks.genrl_multitask import parse_args, resolve_domain_defaults

    walker = resolve_domain_defaults(parse_args([]))
    assert (walker.agent_steps, walker.data_task) == (20000, "walk")
    cheetah = resolve_domain_defaults(parse_args(["--domain", "cheetah", "--tasks", "cheetah_run"]))
    assert (cheetah.agent_steps, cheetah.data_task) == (100000, "run")
    given = resolve_domain_defaults(parse_args(["--domain", "stickman", "--agent-steps", "5000"]))
    assert given.agent_steps == 5000


@pytest.mark.slow
def test_tiny_run_serves_two_tasks_from_one_world_model_and_resumes(tmp_path):
    from benchmarks.genrl_multitask import run

    args = Args.tiny(run_dir=str(tmp_path / "run"))
    args.progress = False
    results = run(args)
    run_dir = tmp_path / "run"
    assert sorted(results["tasks"]) == ["walker_stand", "walker_walk"]
    assert len(list((run_dir / "world_model").glob("checkpoint.safetensors"))) == 1
    # 2 held-random episodes at the top of the store, 1 episode of the SAC agent learning walker-stand beside
    assert len(list((run_dir / "data").glob("*.npz"))) == 2
    assert len(list((run_dir / "data" / "agent-stand").glob("*.npz"))) == 1
    assert [(d["task"], d["steps"], d["episodes"]) for d in results["agent_data"]] == [("stand", 600, 1)]
    assert "SAC learning walker-stand from states: 600 agent steps, 1 episodes" in format_report(results)
    for task in ("walker_stand", "walker_walk"):
        for seed in (0, 1):
            assert (run_dir / task / f"seed{seed}" / "eval.json").is_file()
    before = (run_dir / "walker_walk" / "seed1" / "eval.json").stat().st_mtime_ns
    again = run(args)
    assert (run_dir / "walker_walk" / "seed1" / "eval.json").stat().st_mtime_ns == before  # resumed, not redone
    assert json.loads(json.dumps(again["tasks"])) == json.loads(json.dumps(results["tasks"]))


def test_offline_arm_is_summarised_and_reported_next_to_data_free():
    seeds = [([600 + i for i in range(10)], [0.8] * 10)]
    result = _result(seeds, ([200 + i for i in range(10)], [0.3] * 10), ([300 + i for i in range(10)], [0.5] * 10))
    result["offline_seeds"] = {0: _policy_run([700 + i for i in range(10)], [0.9] * 10)}
    s = summarise("walker_stand", result)
    assert s["offline"]["mean_return"] == pytest.approx(704.5) and s["offline"]["n_seeds"] == 1
    assert set(s["policies"]) == {"genrl", "random", "zero_action"}  # the ranking check is about data-free
    text = format_report({"domain": "walker", "vlm": "x", "timings_s": {}, "tasks": {"walker_stand": s},
                          "args": {"episodes": 2, "wm_steps": 3, "behaviour_steps": 4, "seeds": 1, "eval_episodes": 10}})
    assert "| walker_stand | 704 [" in text and "Offline (start states from the exploration data)" in text
    assert "| 0.900 / 0.800 |" in text  # prompt reward per step, offline next to data-free


def test_bad_agent_tasks_fail_before_any_data_is_collected(tmp_path):
    from benchmarks.genrl_multitask import run

    args = Args.tiny(run_dir=str(tmp_path / "run"))
    args.agent_tasks, args.progress = "stand,fly", False
    with pytest.raises(ValueError, match=r"'fly'.*walker"):
        run(args)
    assert not (tmp_path / "run" / "data").exists()


def test_agent_data_line_says_when_no_episode_completed():
    from benchmarks.genrl_multitask import agent_data_lines

    done = {"domain": "walker", "task": "stand", "steps": 1200, "episodes": 2, "returns": [10.0, 30.0], "seconds": 9}
    none = {**done, "steps": 100, "episodes": 0, "returns": []}
    assert agent_data_lines([done, none]) == [
        "Data also holds SAC learning walker-stand from states: 1200 agent steps, 2 episodes, task return of the "
        "first/last 5 episodes 20 / 20 (9 s).",
        "Data also holds SAC learning walker-stand from states: 100 agent steps, 0 episodes, no episode completed (9 s)."]

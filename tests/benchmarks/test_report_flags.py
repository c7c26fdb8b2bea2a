"""Flags the report computes from the data: meaningless random anchors, a GenRL pipeline too small to learn,
a saturated prompt reward."""
from __future__ import annotations

import sys
import types

import pytest

from benchmarks.report_flags import genrl_pipeline_flags, random_anchor_flags


def _cell(task, agent, normalized):
    return {"task": task, "agent": agent, "normalized": normalized}


def test_random_anchor_is_flagged_where_our_random_agent_is_far_from_zero():
    cells = {
        "a": _cell("quadruped_walk", "random", [0.45, 0.55]),  # mean 0.50, as measured on our quadruped
        "b": _cell("quadruped_stand", "random", [1.01, 0.2, 0.98]),  # the expert's score in 2 of 3 seeds
        "c": _cell("walker_stand", "random", [0.05, -0.1]),  # near 0: GenRL's anchor holds
        "d": _cell("walker_walk", "genrl", [0.99, 0.98]),  # not the random agent: says nothing about the anchor
    }
    flags = random_anchor_flags(cells)
    assert list(flags) == ["quadruped_stand", "quadruped_walk"]
    assert "our random agent scores 0.50" in flags["quadruped_walk"]
    assert "2 of 3 episodes reach 0.9 or more" in flags["quadruped_stand"]
    assert random_anchor_flags({"c": cells["c"], "d": cells["d"]}) == {}


def _pipeline(genrl, random, prompt=None):
    out = {"genrl": {"mean_return": genrl}, "random": {"mean_return": random}}
    if prompt is not None:
        out["prompt_reward_check"] = {k: {"prompt_reward_per_step": v} for k, v in prompt.items()}
    return out


def test_genrl_pipeline_flags_follow_the_numbers():
    saturated = {"genrl": 0.99985, "random": 0.99985, "zero_action": 0.99986}
    flags = genrl_pipeline_flags(_pipeline(100.0, 150.0, saturated))
    assert len(flags) == 2
    assert flags[0].startswith("Too small to learn: the learned policy's return (100.0) is not above the random policy's (150.0)")
    assert flags[1].startswith("Prompt reward saturated: it spans only 1e-05")
    assert genrl_pipeline_flags(_pipeline(200.0, 150.0, {"genrl": 0.6, "random": 0.4, "zero_action": 0.5})) == []
    assert genrl_pipeline_flags(_pipeline(200.0, 150.0)) == []  # no check run: nothing to flag
    constant = _pipeline(200.0, 150.0, {"genrl": 0.6, "random": 0.4})
    for name, std in (("genrl", 2e-4), ("random", 0.0)):
        constant["prompt_reward_check"][name]["step_std"] = std
    assert [f.split(":")[0] for f in genrl_pipeline_flags(constant)] == ["Prompt reward constant per step"]
    constant["prompt_reward_check"]["random"]["step_std"] = 0.05
    assert genrl_pipeline_flags(constant) == []


def test_genrl_pipeline_table_shows_n_ranges_flags_and_links_the_prompt(tmp_path, monkeypatch):
    from benchmarks.pipelines import run_pipeline

    calls = []

    def fake_run(args):
        calls.append(args)
        policy = {"returns": [40.0, 60.0], "mean_return": 50.0, "std_return": 10.0, "episodes": 2,
                  "normalized_score": 0.01}
        return {"task": "walker_lying_down", "pose": "lying_down", "vlm": "fake", "genrl": policy,
                "random": dict(policy, returns=[70.0, 90.0], mean_return=80.0), "zero_action": policy,
                "prompt_reward_check": {k: {"prompt_reward_per_step": 0.99985, "task_return": 1.0}
                                        for k in ("genrl", "random", "zero_action")},
                "timings_s": {"data": 1.0, "eval": 2.0}}

    module = types.ModuleType("benchmarks.genrl_end_to_end")
    from benchmarks.genrl_end_to_end import Args

    module.Args, module.run = Args, fake_run
    monkeypatch.setitem(sys.modules, "benchmarks.genrl_end_to_end", module)
    result = run_pipeline("genrl_end_to_end", tmp_path, quick=True, seed=4, progress=True)
    assert calls[0].seed == 4 and calls[0].progress is True
    assert calls[0].run_dir == str(tmp_path / "genrl_end_to_end" / "seed4-quick")
    text = "\n".join(result["table"])
    assert "](genrl_end_to_end/seed4-quick/prompt.gif)" in text
    assert ("| GenRL data-free (video prompt) | 2 | 50.0 (range 40.0 to 60.0) | 0.010 | 0.99985 (saturated: not a "
            "result, see flags) | – |") in text
    assert "±" not in text
    assert "- Too small to learn" in text and "- Prompt reward saturated: it is the same for every policy" in text
    assert len(result["flags"]) == 2


@pytest.mark.parametrize("bad", [{"genrl": {}, "random": {"mean_return": 1.0}}, {}])
def test_missing_numbers_give_no_flag(bad):
    assert genrl_pipeline_flags(bad) == []

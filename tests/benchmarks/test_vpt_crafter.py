"""benchmarks/vpt_crafter.py: settings, stage skipping, the results shape; the whole quick run is ``slow``."""
from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from benchmarks.vpt_crafter import AGENTS, TECH_TREE, Args, _episode_result, _stage, above, run, seed_summary
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
    assert {"env_steps", "idm_accuracy", "labelled_steps", "unlabelled_steps", "timings_s", "agents", "summary",
            "ladder", "orderings", "idm_per_class", "fraction_sweep", "seeds", "rl_ladder"} <= set(result)
    assert result["env_steps"] == {"ppo_scratch": args.rl_steps, "bc_klppo": args.rl_steps}
    assert result["seeds"] == list(args.seeds) and len(args.seeds) == 2
    assert 0.0 <= result["idm_accuracy"] <= 1.0
    frames = sum(row["frames"] for row in result["idm_per_class"].values())
    assert frames == result["unlabelled_steps"] and len(result["idm_per_class"]) == 17
    assert 0 < result["labelled_steps"] <= args.labelled_episodes * args.episode_length
    assert set(result["agents"]) == set(AGENTS)
    for name, agent in result["agents"].items():
        assert agent["episodes"] == args.eval_episodes * len(args.seeds) == len(agent["returns"])
        assert all(0.0 <= r <= 1.0 for r in agent["achievements"].values()) and 0.0 <= agent["score"] <= 100.0
        assert result["summary"][name]["values"] == agent["seed_scores"] and result["summary"][name]["n"] == 2
    for arm in ("ppo_scratch", "bc_klppo"):  # one run per seed, saved and evaluated at every rung
        assert list(result["ladder"][arm]) == [str(r) for r in args.rl_ladder]
        for seed in args.seeds:
            for rung in args.rl_ladder:
                assert (tmp_path / "run" / f"seed-{seed}" / arm / f"steps-{rung}").is_dir()
        assert result["summary"][arm] == result["ladder"][arm][str(args.rl_ladder[-1])]
    assert set(result["fraction_sweep"]) == {"1", str(args.labelled_episodes)}
    full = result["fraction_sweep"][str(args.labelled_episodes)]  # the main run's IDM and its seed's BC
    assert full["idm_accuracy"] == result["idm_accuracy"]
    assert full["bc_score"] == result["agents"]["bc_pseudo"]["seed_scores"][0]
    for name in ("achievements.png", "learning_curves.png"):
        assert (tmp_path / "run" / name).is_file()
    again = run(args)  # every stage is found done: same numbers, nothing recomputed
    assert again == result
    # the seeds again, two at a time in worker processes, on a copy of the shared stages: the same numbers
    shutil.copytree(tmp_path / "run", tmp_path / "workers",
                    ignore=shutil.ignore_patterns("seed-*", "fraction*", "result.json", "*.png"))
    parallel = run(dataclasses.replace(args, run_dir=str(tmp_path / "workers"), workers=2, fraction_sweep=()))
    assert parallel["per_seed"] == result["per_seed"] and parallel["ladder"] == result["ladder"]
    assert all((tmp_path / "workers" / f"seed-{seed}" / "stages" / f"eval_bc_klppo@{args.rl_steps}.json").is_file()
               for seed in args.seeds)


def test_seed_summary_is_mean_std_and_a_t_interval():
    s = seed_summary([2.0, 4.0, 6.0])
    assert (s["mean"], s["std"], s["n"], s["min"], s["max"]) == (4.0, 2.0, 3, 2.0, 6.0)
    half = 4.303 * 2.0 / 3 ** 0.5  # Student t, 2 degrees of freedom, 95% two-sided
    assert s["ci95"] == pytest.approx([4.0 - half, 4.0 + half])
    assert seed_summary([3.0])["ci95"] == [3.0, 3.0]
    with pytest.raises(ValueError, match="at least one value"):
        seed_summary([])


def test_above_needs_the_intervals_apart():
    low, high = seed_summary([1.0, 1.1, 1.2]), seed_summary([3.0, 3.1, 3.2])
    assert above(high, low) and not above(low, high)
    wide = seed_summary([0.0, 2.0, 5.0])  # its mean is above low's, but the intervals overlap
    assert wide["mean"] > low["mean"] and not above(wide, low)


@pytest.mark.parametrize("change, match", [
    (dict(seeds=()), "seeds must be distinct"),
    (dict(seeds=(0, 0)), "seeds must be distinct"),
    (dict(rl_ladder=(1024, 512)), "rl_ladder must be increasing"),
    (dict(rl_ladder=(1000,)), "multiples of n_envs"),
    (dict(bc_val_episodes=0), "bc_val_episodes"),
    (dict(fraction_sweep=(25,)), "fraction_sweep"),
    (dict(workers=0), "workers must be a whole number"),
])
def test_bad_settings_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        Args(**change)


def test_rl_budget_is_whole_rollouts():
    for args in (Args.quick("/tmp/q"), Args()):
        for rung in args.rl_ladder:  # so the reported env steps equal the rungs
            assert rung % (args.n_envs * args.n_steps) == 0
        assert args.rl_steps == args.rl_ladder[-1]


def test_ppo_killed_between_rungs_resumes_from_the_last_rung(tmp_path, monkeypatch):
    """A run stopped during the second rung keeps the first rung's policy and checkpoint, and the next call
    trains only the remaining steps from that checkpoint (not from scratch, not the whole ladder again)."""
    from agents.sb3.kl_ppo import KLPPO
    from benchmarks import vpt_crafter

    args = dataclasses.replace(Args.quick(str(tmp_path)), progress=False, rl_ladder=(128, 256))
    arm = tmp_path / "ppo_scratch"
    learned: list[tuple[int, int]] = []
    real_learn = KLPPO.learn

    def learn_then_die(self, total_timesteps, **kwargs):
        learned.append((int(self.num_timesteps), int(total_timesteps)))
        if len(learned) == 2:  # the kill: during the second rung, before anything of it is saved
            raise KeyboardInterrupt
        return real_learn(self, total_timesteps, **kwargs)

    monkeypatch.setattr(KLPPO, "learn", learn_then_die)
    with pytest.raises(KeyboardInterrupt):
        vpt_crafter._rl(args, arm, seed=0, init_from=None)
    assert learned == [(0, 128), (128, 128)]
    assert (arm / "steps-128").is_dir() and not (arm / "steps-256").exists()
    first_rung = {p.name: p.read_bytes() for p in (arm / "steps-128").iterdir() if p.is_file()}
    assert json.loads((arm / "run" / "klppo.json").read_text())  # the resumable state of rung 128

    learned.clear()
    monkeypatch.setattr(KLPPO, "learn", lambda self, n, **kw: (learned.append((int(self.num_timesteps), int(n))),
                                                               real_learn(self, n, **kw))[1])  # fmt: skip
    result = vpt_crafter._rl(args, arm, seed=0, init_from=None)
    assert learned == [(128, 128)]  # resumed at 128 env steps, trained the last 128 only
    assert result["env_steps"] == 256 and list(result["rung_seconds"]) == ["256"]
    assert (arm / "steps-256").is_dir()
    assert {p.name: p.read_bytes() for p in (arm / "steps-128").iterdir() if p.is_file()} == first_rung



@pytest.mark.parametrize("argv, named", [(["--seeds", "-1"], "seeds"), (["--ladder", "100"], "rl_ladder")])
def test_command_line_bad_settings_are_one_line_and_status_2(tmp_path, capsys, argv, named):
    from benchmarks import vpt_crafter

    assert vpt_crafter.main(["--run-dir", str(tmp_path / "run"), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m benchmarks.vpt_crafter: error:") and named in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before anything ran


def test_command_line_zero_threads_is_refused_by_the_parser(tmp_path, capsys):
    from benchmarks import vpt_crafter

    with pytest.raises(SystemExit) as exit_:
        vpt_crafter.main(["--run-dir", str(tmp_path / "run"), "--threads", "0"])
    assert exit_.value.code == 2 and "--threads" in capsys.readouterr().err

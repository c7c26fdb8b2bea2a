"""benchmarks/genrl_reward_ppo.py: the ladder check, the paired improvement verdict, a tiny PPO run on a
tiny world model (files per rung, resume skips finished rungs and continues from the saved run), and (slow)
the whole command on the real walker env after a tiny genrl_multitask run."""
import json

import numpy as np
import pytest
import torch

from agents.genrl.connector import Connector, ConnectorConfig
from agents.genrl.reward import MFWM
from agents.genrl.world_model import WorldModel, WorldModelConfig
from benchmarks.genrl_reward_ppo import Args, format_report, run, summarise
from tests.support.fake_vlm import FakeVLM
from tests.support.moving_pattern_env import MovingSquareEnv, moving_square_frame
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rung(returns, prompts, train=()):
    return {"task_returns": list(returns), "prompt_reward_means": list(prompts), "step_std": 0.1,
            "train_prompt_returns": list(train)}


def test_ladder_must_be_increasing_multiples_of_n_steps():
    assert Args(ladder="0, 512,1024").rungs() == [0, 512, 1024]
    for bad in ("512,0", "0,100", "0,0", "", "a,b"):
        with pytest.raises(ValueError, match="ladder must be"):
            Args(ladder=bad).rungs()


def test_improvement_is_paired_by_reset_seed_and_needs_the_interval_above_zero():
    up = {s: {0: _rung([100 + i for i in range(10)], [0.1] * 10), 512: _rung([110 + i for i in range(10)], [0.2] * 10,
                                                                            [5.0, 7.0])} for s in range(3)}
    s = summarise("walker_stand", up)
    assert s["gt_change"]["mean"] == pytest.approx(10.0) and s["gt_change"]["improved"]
    assert s["gt_change"]["seeds_up"] == 3 and s["prompt_change"]["mean"] == pytest.approx(0.1)
    assert s["rungs"][512]["mean_return"] == pytest.approx(114.5)
    assert s["rungs"][512]["normalized"] == pytest.approx((114.5 - 150) / (970 - 150))
    assert s["rungs"][512]["train_prompt_return"] == pytest.approx(6.0) and s["rungs"][0]["train_prompt_return"] is None
    # one seed up a lot, two down a little: the mean is up but the paired interval includes 0
    mixed = {0: {0: _rung([100.0] * 10, [0.1] * 10), 512: _rung([100.0 + 30 * (i % 2) for i in range(10)], [0.1] * 10)},
             1: {0: _rung([100.0] * 10, [0.1] * 10), 512: _rung([95.0 - 5 * (i % 2) for i in range(10)], [0.1] * 10)},
             2: {0: _rung([100.0] * 10, [0.1] * 10), 512: _rung([97.0 + 2 * (i % 2) for i in range(10)], [0.1] * 10)}}
    m = summarise("walker_stand", mixed)
    assert m["gt_change"]["mean"] > 0 and m["gt_change"]["seeds_up"] == 1 and not m["gt_change"]["improved"]
    text = format_report({"task": "walker_stand", "vlm": "fake (stand-in)", "args": {"eval_episodes": 10},
                          "summary": m, "baselines": {"random": 135.0}})
    assert "NOT improved" in text and "fake (stand-in)" in text and "| 512 | 101.8 [" in text and "random 135.0" in text
    assert "is not above random's (135.0): whatever the change, PPO has not learned the task" in text
    # an improvement that stays below random is still flagged; one above random is not
    low = format_report({"task": "walker_stand", "vlm": "x", "args": {"eval_episodes": 10}, "summary": s,
                         "baselines": {"random": 120.0}})
    assert "improved." in low and "GT return (114.5) is not above random's (120.0)" in low
    high = format_report({"task": "walker_stand", "vlm": "x", "args": {"eval_episodes": 10}, "summary": s,
                          "baselines": {"random": 100.0}})
    assert "not above random" not in high


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=2))
    conn = Connector(ConnectorConfig.for_world_model(wm.config, embed_dim=16))
    return MFWM(wm, conn, FakeVLM(dim=16))


def test_tiny_run_writes_each_rung_and_resumes_from_the_saved_run(tiny_model, tmp_path):
    prompt = np.stack([moving_square_frame(4 * i, 10) for i in range(8)])
    args = Args(run_dir=str(tmp_path / "run"), wm_run_dir=str(tmp_path / "none"), task="moving_square", seeds=1,
                ladder="0,32", n_steps=32, batch_size=16, n_epochs=1, eval_episodes=2, progress=False)
    res = run(args, tiny_model, prompt, lambda: MovingSquareEnv(episode_steps=8))
    seed_dir = tmp_path / "run" / "seed0"
    first = json.loads((seed_dir / "rung0.json").read_text())
    second = json.loads((seed_dir / "rung32.json").read_text())
    assert first["env_steps"] == 0 and second["env_steps"] == 32
    assert len(second["task_returns"]) == 2 and len(second["train_prompt_returns"]) == 4  # 32 steps / 8
    assert res["summary"]["rungs"][32]["normalized"] is None and res["baselines"] is None
    # the env's reward is action[0]: the GT return of an episode is the sum of the policy's first action
    assert second["task_returns"] != first["task_returns"]
    # a longer ladder continues from the saved run at 32 steps; finished rungs are not redone
    before = (seed_dir / "rung32.json").stat().st_mtime_ns
    args.ladder = "0,32,64"
    again = run(args, tiny_model, prompt, lambda: MovingSquareEnv(episode_steps=8))
    assert (seed_dir / "rung32.json").stat().st_mtime_ns == before
    assert json.loads((seed_dir / "rung64.json").read_text())["env_steps"] == 64
    assert sorted(again["summary"]["rungs"]) == [0, 32, 64]
    args.ladder = "0,16,32,64"
    args.n_steps = 16
    from vpt_gym.user_errors import UsageError

    with pytest.raises(UsageError, match="n_steps"):  # another PPO setting: not the same run
        run(args, tiny_model, prompt, lambda: MovingSquareEnv(episode_steps=8))


@pytest.mark.slow
def test_command_on_the_walker_env_after_a_tiny_multitask_run(tmp_path, capsys):
    from benchmarks.genrl_multitask import Args as MultitaskArgs, run as multitask_run
    from benchmarks.genrl_reward_ppo import main

    mt = MultitaskArgs.tiny(run_dir=str(tmp_path / "wm"))
    mt.tasks, mt.seeds, mt.progress = "walker_stand", 1, False
    multitask_run(mt)
    assert main(["--run-dir", str(tmp_path / "ppo"), "--wm-run-dir", str(tmp_path / "wm"), "--seeds", "1",
                 "--ladder", "0,64", "--n-steps", "64", "--batch-size", "32", "--n-epochs", "1",
                 "--eval-episodes", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "task walker_stand" in out and "| 64 |" in out and "random-features" in out
    res = json.loads((tmp_path / "ppo" / "results.json").read_text())
    assert res["summary"]["rungs"]["64"]["n_episodes"] == 1 and res["baselines"]["zero_action"] >= 0
    # a missing world-model run is a clear usage error, not a traceback
    assert main(["--run-dir", str(tmp_path / "ppo2"), "--wm-run-dir", str(tmp_path / "nothing")]) == 2
    assert "run `python -m benchmarks.genrl_multitask" in capsys.readouterr().err

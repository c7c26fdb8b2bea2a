"""The KL fine-tuning benchmark's pipeline (benchmarks/kl_finetune.py) at a seconds-long size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th

from benchmarks import kl_finetune
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(expert="ppo", expert_steps=256, demo_episodes=1, bc_epochs=2, finetune_steps=256, eval_every=256,
             eval_episodes=1, n_envs=1, n_steps=256, batch_size=128, seeds=1)  # fmt: skip


def test_run_writes_curves_summary_and_resumes(tmp_path, monkeypatch):
    cfg = kl_finetune.Config(**SMALL)
    result = kl_finetune.run(cfg, tmp_path)

    assert set(result["curves"]) == {"kl", "no_kl"}
    for arm, curves in result["curves"].items():
        (curve,) = curves
        assert [p["timesteps"] for p in curve] == [0, 256]
        assert curve[0]["kl_to_ref"] == pytest.approx(0.0, abs=1e-7)  # the reference is the BC policy itself
        assert curve[0]["return"] == result["bc_return"]
        assert curve[-1]["kl_to_ref"] > 0.0  # one PPO update moved it
        summary = result["summary"][arm]
        assert summary["final_return"] == curve[-1]["return"]
        assert summary["lowest_return"] == curve[-1]["return"]
        assert summary["final_vs_bc"] == pytest.approx(curve[-1]["return"] / result["bc_return"])
    with np.load(tmp_path / "demos.npz", allow_pickle=False) as demos:
        assert demos["states"].shape == (500, 24) and demos["actions"].shape == (500, 6)
        assert np.abs(demos["actions"]).max() <= 1.0
    assert (tmp_path / "kl_finetune.png").stat().st_size > 0
    assert json.loads((tmp_path / "kl_finetune.json").read_text())["bc_return"] == result["bc_return"]

    # a rerun reads every stage back instead of recomputing it
    def boom(*args, **kwargs):
        raise AssertionError("recomputed a finished stage")

    monkeypatch.setattr(kl_finetune, "finetune", boom)
    monkeypatch.setattr(kl_finetune, "train_expert", boom)
    again = kl_finetune.run(cfg, tmp_path)
    assert again["curves"] == result["curves"]


def test_other_settings_in_the_same_directory_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"task": "walker-walk"}))
    with pytest.raises(ValueError, match="other settings"):
        kl_finetune.run(kl_finetune.Config(**SMALL), tmp_path)


def test_unknown_expert_is_refused():
    with pytest.raises(ValueError, match="expert must be 'sac' or 'ppo'"):
        kl_finetune.train_expert(kl_finetune.Config(**{**SMALL, "expert": "ddpg"}))


def test_noise_injected_demonstrations_keep_the_clean_labels():
    from stable_baselines3 import PPO

    expert = PPO("MlpPolicy", kl_finetune.make_env("walker-stand", 0), seed=0, device="cpu")
    clean_states, clean_labels, _ = kl_finetune.collect_demos(expert, "walker-stand", 1, 0, noise=0.0)
    states, labels, _ = kl_finetune.collect_demos(expert, "walker-stand", 1, 0, noise=0.5)
    np.testing.assert_array_equal(states[0], clean_states[0])  # same first state, then the noise moves it
    assert not np.allclose(states[5:], clean_states[5:])
    recomputed = np.clip(expert.predict(states, deterministic=True)[0], -1, 1)
    np.testing.assert_allclose(labels, recomputed, atol=1e-6)  # labels are the expert's own, noise-free actions


def test_demonstrations_made_with_other_settings_are_refused(tmp_path):
    kl_finetune.run(kl_finetune.Config(**SMALL), tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "demos.npz").write_bytes((tmp_path / "a" / "demos.npz").read_bytes())
    with pytest.raises(ValueError, match="other demonstration settings"):
        kl_finetune.run(kl_finetune.Config(**{**SMALL, "demo_noise": 0.1}), tmp_path / "b")


def test_the_expert_is_kept_as_safetensors_and_read_back(tmp_path, monkeypatch):
    cfg = kl_finetune.Config(**SMALL)
    first = kl_finetune.train_expert(cfg, tmp_path)
    assert (tmp_path / "expert.safetensors").is_file()

    new_expert = kl_finetune._new_expert

    def untrainable(c):
        model = new_expert(c)
        model.learn = lambda *args, **kwargs: pytest.fail("the kept expert was retrained")
        return model

    monkeypatch.setattr(kl_finetune, "_new_expert", untrainable)
    second = kl_finetune.train_expert(cfg, tmp_path)
    for (name, a), b in zip(first.policy.state_dict().items(), second.policy.state_dict().values()):
        assert th.equal(a, b), name
    with pytest.raises(ValueError, match="other settings"):
        kl_finetune.train_expert(kl_finetune.Config(**{**SMALL, "expert_steps": 512}), tmp_path)


def test_command_line_user_errors_are_one_line_not_a_traceback(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert kl_finetune.main(["--tiny", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m benchmarks.kl_finetune: error:") and "a-file" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1

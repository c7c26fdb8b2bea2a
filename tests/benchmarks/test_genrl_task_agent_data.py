"""benchmarks/genrl_task_agent_data.py: the pixel-episode recorder (store format, executed actions, rewards),
the task list, and the collection's marker (skip when done, redo when interrupted)."""
import json

import gymnasium as gym
import numpy as np
import pytest

from agents.genrl.episodes import EpisodeStore, validate_episode
from benchmarks.genrl_task_agent_data import (RecordPixelEpisodes, agent_data_summary, agent_tasks,
                                              collect_task_agent_data)


def _state_env(limit):
    from vpt_gym.envs.dmc import make

    env = make("walker", "stand", obs_type="state", render_mode="rgb_array", render_quality="fast", seed=0)
    return gym.wrappers.TimeLimit(env, limit)


def test_recorder_writes_each_episode_in_the_store_format_with_executed_actions_and_rewards(tmp_path):
    env = RecordPixelEpisodes(_state_env(4), tmp_path)
    rewards, actions = [], [np.array([2.0, -3.0, 0.5, 0.0, 0.1, -0.2], np.float32)] + [np.zeros(6, np.float32)] * 3
    obs, _ = env.reset(seed=1)
    assert obs.shape == (24,)  # the agent sees the state
    for a in actions:
        obs, r, terminated, truncated, _ = env.step(a)
        rewards.append(r)
    assert truncated and env.episodes == 1
    store = EpisodeStore(tmp_path)
    assert len(store) == 1
    ep = store.load(0, ("observation", "action", "reward", "is_first", "is_last", "discount", "is_terminal"))
    assert validate_episode(dict(ep)) == 5
    assert ep["observation"].shape == (5, 3, 64, 64) and ep["observation"].dtype == np.uint8
    assert ep["observation"].std() > 0  # rendered frames, not blanks
    np.testing.assert_array_equal(ep["action"][0], np.zeros(6))
    np.testing.assert_array_equal(ep["action"][1], np.float32([1.0, -1.0, 0.5, 0.0, 0.1, -0.2]))  # clipped: what ran
    np.testing.assert_allclose(ep["reward"][1:, 0], rewards, rtol=1e-6)
    assert env.returns == [pytest.approx(sum(rewards))]
    assert ep["is_first"].tolist() == [True, False, False, False, False]
    assert ep["is_last"].tolist() == [False, False, False, False, True]
    assert ep["discount"][:, 0].tolist() == [1.0] * 5  # truncated, not terminal


def test_recorder_needs_reset_and_64px_frames(tmp_path):
    env = RecordPixelEpisodes(_state_env(4), tmp_path)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(6, np.float32))
    from vpt_gym.envs.dmc import make

    small = RecordPixelEpisodes(make("walker", "stand", obs_type="state", render_mode="rgb_array", size=32), tmp_path)
    with pytest.raises(ValueError, match="64x64x3"):
        small.reset(seed=0)


def test_agent_tasks_defaults_none_and_unknown_names():
    assert agent_tasks("walker", None) == ("stand", "walk")
    assert agent_tasks("walker", "") == ()
    assert agent_tasks("cheetah", " run ") == ("run",)
    with pytest.raises(ValueError, match=r"'fly'.*walker.*expected some of"):
        agent_tasks("walker", "stand,fly")


def test_collection_writes_a_marker_skips_when_done_and_redoes_an_interrupted_one(tmp_path):
    info = collect_task_agent_data("walker", "stand", steps=60, store_dir=tmp_path, learning_starts=20,
                                   episode_steps=20, progress=False)
    out = tmp_path / "agent-stand"
    assert info["episodes"] == 3 and len(info["returns"]) == 3 and info["steps"] == 60
    assert json.loads((out / "done.json").read_text()) == info
    assert agent_data_summary(tmp_path) == [info]
    files = sorted(out.glob("*.npz"))
    assert len(files) == 3
    again = collect_task_agent_data("walker", "stand", steps=60, store_dir=tmp_path, progress=False)
    assert again == info and sorted(out.glob("*.npz")) == files  # skipped: same files

    (out / "done.json").unlink()  # as if killed before the marker: the partial set is removed and redone
    (out / "0-partial-x-3.npz").write_bytes(b"junk")
    redo = collect_task_agent_data("walker", "stand", steps=60, store_dir=tmp_path, learning_starts=20,
                                   episode_steps=20, progress=False)
    assert redo["returns"] == info["returns"]  # seeded: the same run
    assert len(list(out.glob("*.npz"))) == 3 and not (out / "0-partial-x-3.npz").exists()


def test_steps_must_be_a_positive_int(tmp_path):
    with pytest.raises(ValueError, match="steps must be a positive int"):
        collect_task_agent_data("walker", "stand", steps=0, store_dir=tmp_path)


def _collect(tmp_path, **kw):
    kw = {"steps": 60, "learning_starts": 20, "episode_steps": 20, "progress": False, **kw}
    return collect_task_agent_data("walker", "stand", store_dir=tmp_path, **kw)


def test_learning_in_checkpointed_chunks_is_the_same_run_and_leaves_no_checkpoint(tmp_path):
    whole = _collect(tmp_path / "whole", checkpoint_steps=60)
    chunked = _collect(tmp_path / "chunked", checkpoint_steps=20)
    assert chunked["returns"] == whole["returns"] and chunked["episodes"] == 3
    assert not (tmp_path / "chunked" / "agent-stand" / "sac_checkpoint.pt").exists()


def test_an_interrupted_collection_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    import torch

    import benchmarks.genrl_task_agent_data as module

    whole = _collect(tmp_path / "whole", checkpoint_steps=20)
    real, saves = module._save_checkpoint, []

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(module, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _collect(tmp_path / "cut", checkpoint_steps=20)
    out = tmp_path / "cut" / "agent-stand"
    state = torch.load(out / "sac_checkpoint.pt", weights_only=True)
    assert (state["num_timesteps"], state["n_updates"], state["episodes"]) == (40, 20, 2)  # updates after step 20
    assert state["buffer"]["observations"].shape == (40, 1, 24) and [round(r, 3) for r in state["returns"]] == whole["returns"][:2]
    kept = sorted(out.glob("*.npz"))
    (out / "2-later-x-21.npz").write_bytes(b"an episode written after the checkpoint")

    monkeypatch.setattr(module, "_save_checkpoint", real)
    resumed = _collect(tmp_path / "cut", checkpoint_steps=20)
    assert resumed["episodes"] == 3 and resumed["returns"][:2] == whole["returns"][:2]
    files = sorted(out.glob("*.npz"))
    assert files[:2] == kept and len(files) == 3 and not (out / "2-later-x-21.npz").exists()
    assert not (out / "sac_checkpoint.pt").exists() and (out / "done.json").is_file()


def test_a_checkpoint_restores_exactly_what_was_saved(tmp_path):
    import torch
    from stable_baselines3 import SAC

    import benchmarks.genrl_task_agent_data as module

    run = {"domain": "walker", "task": "stand", "seed": 0, "learning_starts": 20, "episode_steps": 20}

    def model_and_recorder(seed):
        recorder = RecordPixelEpisodes(_state_env(20), tmp_path / f"ep{seed}")
        return SAC("MlpPolicy", recorder, learning_starts=20, seed=seed, device="cpu"), recorder

    model, recorder = model_and_recorder(0)
    model.learn(40)
    module._save_checkpoint(tmp_path / "ck.pt", run, model, recorder, 1.5)
    fresh, fresh_recorder = model_and_recorder(1)
    assert module._restore(fresh, fresh_recorder, module._read_checkpoint(tmp_path / "ck.pt", run)) == 1.5
    for name, value in model.policy.state_dict().items():
        assert torch.equal(fresh.policy.state_dict()[name], value), name
    assert torch.equal(fresh.log_ent_coef, model.log_ent_coef)
    np.testing.assert_array_equal(fresh.replay_buffer.observations[:40], model.replay_buffer.observations[:40])
    assert (fresh.replay_buffer.pos, fresh.num_timesteps, fresh._n_updates) == (40, 40, model._n_updates)
    assert fresh.actor.optimizer.state_dict()["state"][0]["step"] == model.actor.optimizer.state_dict()["state"][0]["step"]
    assert (fresh_recorder.episodes, fresh_recorder.returns) == (recorder.episodes, recorder.returns)


def test_corrupt_tampered_or_foreign_checkpoints_are_refused(tmp_path):
    import torch

    import benchmarks.genrl_task_agent_data as module

    run = {"domain": "walker", "task": "stand", "seed": 0, "learning_starts": 20, "episode_steps": 20}
    path = tmp_path / "agent-stand" / "sac_checkpoint.pt"
    path.parent.mkdir()
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a readable SAC checkpoint.*delete it"):
        _collect(tmp_path)
    torch.save({"format": 1, "run": run, "payload": gym.spaces.Discrete(2)}, path)  # an object: refused
    with pytest.raises(ValueError, match="not a readable SAC checkpoint"):
        module._read_checkpoint(path, run)
    torch.save({"format": 1, "run": {**run, "task": "walk"}}, path)
    with pytest.raises(ValueError, match="made by another SAC run"):
        _collect(tmp_path)
    torch.save({"format": 7}, path)
    with pytest.raises(ValueError, match="format 1"):
        _collect(tmp_path)
    with pytest.raises(ValueError, match="checkpoint_steps must be a positive int"):
        _collect(tmp_path, checkpoint_steps=0)

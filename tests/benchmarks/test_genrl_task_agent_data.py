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

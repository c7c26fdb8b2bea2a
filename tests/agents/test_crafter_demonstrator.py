"""agents.crafter_demonstrator: the scripted Crafter contractor."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("crafter")

from agents.crafter_demonstrator import (  # noqa: E402
    VIEW_RADIUS,
    CrafterDemonstrator,
    run_demonstrator,
    run_random,
)
from vpt_gym.envs.crafter import ACTION_NAMES, make  # noqa: E402

EARLY = ("collect_wood", "place_table", "make_wood_pickaxe")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unlocks_the_first_tech_steps_within_100_steps(seed: int) -> None:
    episode = run_demonstrator(make(length=100), n_episodes=1, seed=seed)[0]
    missing = [name for name in EARLY if name not in episode.achievements]
    assert not missing, f"seed {seed}: not unlocked {missing} in {len(episode)} steps"


def test_episode_arrays_are_aligned_with_the_env() -> None:
    env = make(length=40)
    episode = run_demonstrator(env, n_episodes=1, seed=5)[0]
    assert episode.frames.shape == (40, 64, 64, 3) and episode.frames.dtype == np.uint8
    assert episode.actions.shape == (40,) and episode.actions.dtype == np.int64
    assert episode.actions.min() >= 0 and episode.actions.max() < len(ACTION_NAMES)
    assert episode.seed == 5 and not episode.terminated
    # replaying the recorded actions on the same seed reproduces every frame (frames[t] before actions[t])
    obs, _ = env.reset(seed=5)
    for t, action in enumerate(episode.actions):
        assert np.array_equal(obs, episode.frames[t])
        obs, *_ = env.step(int(action))
    assert np.array_equal(obs, episode.last_frame)


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    env = make(length=30)
    a = run_demonstrator(env, n_episodes=2, seed=0)
    b = run_demonstrator(env, n_episodes=1, seed=0)
    assert np.array_equal(a[0].actions, b[0].actions)
    assert a[1].seed == 1 and not np.array_equal(a[0].frames[0], a[1].frames[0])


def test_perceives_only_what_has_been_on_screen() -> None:
    env = make()
    env.reset(seed=0)
    demonstrator = CrafterDemonstrator(np.random.default_rng(0))
    demonstrator.reset(env)
    (rx, ry) = VIEW_RADIUS
    assert (demonstrator.known >= 0).sum() == (2 * rx + 1) * (2 * ry + 1)
    x, y = env.player.pos
    assert (demonstrator.known[x - rx:x + rx + 1, y - ry:y + ry + 1] >= 0).all()


def test_random_baseline_runs_same_seeds() -> None:
    episodes = run_random(make(length=20), n_episodes=2, seed=3)
    assert [e.seed for e in episodes] == [3, 4] and all(len(e) == 20 for e in episodes)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="CrafterEnv"):
        run_demonstrator(gym.make("CartPole-v1"), n_episodes=1, seed=0)
    with pytest.raises(ValueError, match="n_episodes"):
        run_demonstrator(make(length=5), n_episodes=0, seed=0)

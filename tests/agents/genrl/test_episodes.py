"""Episode store: atomic round trip, lazy loading, sampling windows, collect() on a synthetic env."""
import re

import numpy as np
import pytest

from agents.genrl.episodes import (
    EPISODE_KEYS,
    EpisodeStore,
    collect,
    episode_index,
    save_episode,
    validate_episode,
)
from tests.support.moving_pattern_env import MovingSquareEnv


def make_episode(ep_id: int, length: int, action_dim: int = 2) -> dict:
    """Frames encode (episode id, step) in their first two pixels so windows can be traced back."""
    obs = np.zeros((length, 3, 64, 64), np.uint8)
    obs[:, 0, 0, 0] = ep_id
    obs[:, 0, 0, 1] = np.arange(length)
    is_first = np.zeros(length, bool)
    is_first[0] = True
    is_last = np.zeros(length, bool)
    is_last[-1] = True
    return {
        "observation": obs,
        "action": np.full((length, action_dim), ep_id / 100, np.float32),
        "reward": np.arange(length, dtype=np.float32)[:, None],
        "discount": np.ones((length, 1), np.float32),
        "is_first": is_first, "is_last": is_last, "is_terminal": np.zeros(length, bool),
    }


def test_episode_index_reads_the_saved_name_and_refuses_other_names(tmp_path):
    assert episode_index(save_episode(tmp_path, make_episode(0, 5), index=12)) == 12
    assert episode_index(tmp_path / "3-partial-x-17.npz") is None  # not the naming scheme


def test_round_trip_is_exact_and_atomic(tmp_path):
    ep = make_episode(3, 17)
    path = save_episode(tmp_path, ep, index=0)
    assert re.fullmatch(r"0-\d{8}T\d{6}-[0-9a-f]{32}-17\.npz", path.name)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    store = EpisodeStore(tmp_path)
    assert len(store) == 1 and store.lengths == [17] and store.num_steps == 17
    loaded = store.load(0, EPISODE_KEYS)
    for key in EPISODE_KEYS:
        assert loaded[key].dtype == ep[key].dtype
        np.testing.assert_array_equal(loaded[key], ep[key])


def test_sampled_windows_are_contiguous_and_inside_one_episode(tmp_path):
    store = EpisodeStore(tmp_path)
    lengths = [10, 30, 4, 25]  # the 4-step episode is too short for length-8 windows
    for i, n in enumerate(lengths):
        store.add(make_episode(i, n))
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        batch = store.sample(5, 8, rng)
        assert batch["observation"].shape == (5, 8, 3, 64, 64) and batch["action"].shape == (5, 8, 2)
        for b in range(5):
            ep_ids = batch["observation"][b, :, 0, 0, 0]
            steps = batch["observation"][b, :, 0, 0, 1].astype(int)
            assert len(set(ep_ids)) == 1  # never crosses episodes
            ep = int(ep_ids[0])
            assert ep != 2
            assert np.all(np.diff(steps) == 1) and steps[-1] < lengths[ep]
            assert batch["is_first"][b, 0] == (steps[0] == 0) and not batch["is_first"][b, 1:].any()
            np.testing.assert_array_equal(batch["reward"][b, :, 0], steps)
            seen.add((ep, steps[0]))
    assert {e for e, _ in seen} == {0, 1, 3}
    assert len(seen) > 20  # starts vary


def test_sampling_opens_only_needed_files_and_cache_is_bounded(tmp_path):
    for i in range(12):
        save_episode(tmp_path, make_episode(i, 9), index=i)
    store = EpisodeStore(tmp_path, cache_episodes=2)
    assert store.files_opened == 0  # indexing reads file names only
    assert store.lengths == [9] * 12
    batch = store.sample(2, 4, np.random.default_rng(1))
    needed = len(set(batch["episode"].tolist()))
    assert store.files_opened == needed <= 2
    for _ in range(10):
        store.sample(3, 4, np.random.default_rng(_))
    assert len(store._cache) <= 2  # memory bounded by the cache, not by the dataset


def test_mmap_mode_returns_memory_maps(tmp_path):
    data = tmp_path / "data"
    save_episode(data, make_episode(1, 12), index=0)
    store = EpisodeStore(data, mmap_dir=tmp_path / "mmap")
    arrays = store.load(0)
    assert isinstance(arrays["observation"], np.memmap)
    np.testing.assert_array_equal(arrays["observation"], make_episode(1, 12)["observation"])
    # a second store reuses the decompressed files
    again = EpisodeStore(data, mmap_dir=tmp_path / "mmap").load(0)
    np.testing.assert_array_equal(again["reward"], make_episode(1, 12)["reward"])


def test_bad_input_raises(tmp_path):
    ep = make_episode(0, 5)
    with pytest.raises(KeyError, match="is_terminal"):
        validate_episode({k: v for k, v in ep.items() if k != "is_terminal"})
    with pytest.raises(ValueError, match=r"uint8 \(T, 3, 64, 64\)"):
        validate_episode({**ep, "observation": ep["observation"].transpose(0, 2, 3, 1)})
    bad = ep["action"].copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        validate_episode({**ep, "action": bad})
    store = EpisodeStore(tmp_path)
    store.add(ep)
    with pytest.raises(ValueError, match="no episode has at least 6 steps"):
        store.sample(1, 6, np.random.default_rng(0))
    with pytest.raises(IndexError, match="out of range"):
        store.load(3)
    corrupt = tmp_path / "9-x-ab-5.npz"
    corrupt.write_bytes(b"not a zip file")
    store.refresh()
    with pytest.raises(ValueError, match="corrupt"):
        store.load(1)


def test_collect_from_synthetic_env(tmp_path):
    env = MovingSquareEnv(episode_steps=6, action_dim=2)
    store = EpisodeStore(tmp_path)
    actions = []

    def policy(obs):
        assert obs.shape == (64, 64, 3)
        a = np.array([0.5, -0.25], np.float32) * (len(actions) % 3)
        actions.append(a)
        return a

    paths = collect(env, policy, n_episodes=2, store=store, seed=3, progress=False)
    assert len(paths) == 2 and len(store) == 2 and store.lengths == [7, 7]
    ep = store.load(0, EPISODE_KEYS)
    assert ep["observation"].shape == (7, 3, 64, 64)
    np.testing.assert_array_equal(ep["action"][0], 0)  # reset row
    np.testing.assert_array_equal(ep["action"][1:], np.stack(actions[:6]))
    np.testing.assert_array_equal(ep["reward"][1:, 0], np.stack(actions[:6])[:, 0])
    assert ep["is_first"].tolist() == [True] + [False] * 6
    assert ep["is_last"].tolist() == [False] * 6 + [True]
    assert not ep["is_terminal"].any() and np.all(ep["discount"] == 1)
    # frames are stored channels-first and match a fresh env replay
    env2 = MovingSquareEnv(episode_steps=6)
    obs0, _ = env2.reset(seed=3)
    np.testing.assert_array_equal(ep["observation"][0], obs0.transpose(2, 0, 1))
    # random policy + bad policy
    collect(env, None, 1, store, progress=False)
    assert len(store) == 3
    with pytest.raises(ValueError, match="invalid action"):
        collect(env, lambda o: np.zeros(3), 1, store, progress=False)
    # out-of-range actions are stored as executed: clipped to the Box
    collect(env, lambda o: np.array([3.0, -0.5], np.float32), 1, store, progress=False)
    np.testing.assert_array_equal(store.load(len(store) - 1)["action"][1:], np.tile([1.0, -0.5], (6, 1)))


def test_sampling_memory_is_bounded_by_the_cache_not_the_dataset(tmp_path):
    import tracemalloc

    for i in range(8):
        save_episode(tmp_path, make_episode(i, 200), index=i)
    episode_bytes = 200 * 3 * 64 * 64
    store = EpisodeStore(tmp_path, cache_episodes=1)
    tracemalloc.start()
    try:
        batch = store.sample(8, 4, np.random.default_rng(0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(set(batch["episode"].tolist())) >= 4  # many episodes were touched...
    assert peak < 3 * episode_bytes  # ...but at most ~2 were in memory at once

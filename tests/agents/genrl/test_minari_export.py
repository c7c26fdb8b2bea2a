"""GenRL episode stores as Minari datasets and back: exact round trip, GenRL rows -> Minari steps, env spec."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents.genrl.episodes import EPISODE_KEYS, EpisodeStore
from agents.genrl.minari_export import episode_store_to_minari, minari_to_episode_store
from agents.minari_datasets import MinariEpisode, load_dataset, write_dataset

pytest.importorskip("minari", reason='Minari is not installed: pip install -e ".[dev]"')
pytestmark = pytest.mark.filterwarnings("ignore:`\\w+` is set to None")  # Minari asks for provenance metadata


@pytest.fixture(autouse=True)
def datasets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))


def _episode(rng: np.random.Generator, n: int, terminal: bool) -> dict[str, np.ndarray]:
    last = np.eye(1, n, n - 1, dtype=bool)[0]
    action = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    action[0] = 0
    reward = rng.normal(size=(n, 1)).astype(np.float32)
    reward[0] = 0
    return {
        "observation": rng.integers(0, 256, (n, 3, 64, 64), dtype=np.uint8), "action": action, "reward": reward,
        "discount": np.where(last & terminal, 0.0, 1.0).astype(np.float32)[:, None],
        "is_first": np.eye(1, n, dtype=bool)[0], "is_last": last, "is_terminal": last & terminal,
    }  # fmt: skip


def test_an_episode_store_round_trips_exactly_through_minari(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    store = EpisodeStore(tmp_path / "store")
    originals = [_episode(rng, 6, terminal=False), _episode(rng, 4, terminal=True)]
    for ep in originals:
        store.add(ep)
    dataset = episode_store_to_minari(store, "vpt-gym/walker-walk/test-v0", env="vpt_gym/walker-walk-v0",
                                      algorithm_name="random")  # fmt: skip
    assert (dataset.total_episodes, dataset.total_steps) == (2, 5 + 3)  # T rows = T - 1 Minari steps
    assert dataset.spec.env_spec.id == "vpt_gym/walker-walk-v0" and dataset.storage.metadata["algorithm_name"] == "random"
    assert dataset.spec.action_space == gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    episodes = list(load_dataset("vpt-gym/walker-walk/test-v0").iterate_episodes())
    first, second = episodes
    np.testing.assert_array_equal(first.observations, originals[0]["observation"].transpose(0, 2, 3, 1))  # HWC
    np.testing.assert_array_equal(first.actions, originals[0]["action"][1:])  # row t's action led to obs t
    np.testing.assert_allclose(first.rewards, originals[0]["reward"][1:, 0], rtol=0, atol=0)
    assert not first.terminations.any() and first.truncations.tolist() == [False] * 4 + [True]
    assert second.terminations.tolist() == [False, False, True] and not second.truncations.any()
    copy = minari_to_episode_store("vpt-gym/walker-walk/test-v0", tmp_path / "copy")
    assert copy.lengths == [6, 4]
    for i, original in enumerate(originals):
        loaded = copy.load(i, EPISODE_KEYS)
        for key in EPISODE_KEYS:
            np.testing.assert_array_equal(loaded[key], original[key], err_msg=key)
            assert loaded[key].dtype == original[key].dtype, key
    with pytest.raises(ValueError, match="already holds 2 episodes"):
        minari_to_episode_store("vpt-gym/walker-walk/test-v0", tmp_path / "copy")


def test_the_recorded_env_spec_recovers_the_environment(tmp_path: Path) -> None:
    store = EpisodeStore(tmp_path / "store")
    store.add(_episode(np.random.default_rng(1), 3, terminal=False))
    dataset = episode_store_to_minari(store, "vpt-gym/cheetah-run/test-v0", env="vpt_gym/cheetah-run-v0")
    env = dataset.recover_environment()
    try:
        assert env.spec.id == "vpt_gym/cheetah-run-v0"
        assert env.observation_space.shape == (64, 64, 3) and env.action_space.shape == (6,)
    finally:
        env.close()


def test_a_dataset_that_is_not_64x64_pixels_is_refused(tmp_path: Path) -> None:
    n = 3
    state = MinariEpisode(np.zeros((n + 1, 17), np.float32), np.zeros((n, 6), np.float32), np.zeros(n),
                          np.zeros(n, bool), np.eye(1, n, n - 1, dtype=bool)[0])  # fmt: skip
    write_dataset("t/cheetah/state-v0", [state], "vpt_gym/cheetah-run-v0", gym.spaces.Box(-np.inf, np.inf, (17,)),
                  gym.spaces.Box(-1, 1, (6,), np.float32))  # fmt: skip
    with pytest.raises(ValueError, match=r"64x64 RGB uint8 image observations.*float32 \(4, 17\)"):
        minari_to_episode_store("t/cheetah/state-v0", tmp_path / "copy")
    with pytest.raises(ValueError, match="has no episodes"):
        episode_store_to_minari(EpisodeStore(tmp_path / "empty"), "t/x/e-v0", env="vpt_gym/cheetah-run-v0")

"""The Minari layer shared by the episode-store and contractor exports: env specs recorded without creating
the env, length checks, clear errors for a missing extra or a missing dataset."""
from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents.minari_datasets import MinariEpisode, env_spec, load_dataset, write_dataset
from vpt_gym.optional import MissingDependency

pytest.importorskip("minari", reason='Minari is not installed: pip install -e ".[dev]"')
pytestmark = pytest.mark.filterwarnings("ignore:`\\w+` is set to None")  # Minari asks for provenance metadata


@pytest.fixture(autouse=True)
def datasets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return tmp_path / "minari"


def _episode(n: int) -> MinariEpisode:
    return MinariEpisode(np.zeros((n + 1, 4), np.float32), np.zeros((n, 2), np.float32), np.arange(n, dtype=float),
                         np.zeros(n, bool), np.eye(1, n, n - 1, dtype=bool)[0])  # fmt: skip


def test_the_spec_of_an_env_that_cannot_be_created_here_is_recorded(datasets_dir: Path) -> None:
    spaces = (gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Box(-1, 1, (2,), np.float32))
    # MineRL is not installed: gym.make would fail, so the spec is recorded without making the env
    write_dataset("t/minerl/a-v0", [_episode(3), _episode(2)], "vpt_gym/MineRLBasaltFindCave-v0", *spaces,
                  description="d", algorithm_name="x")  # fmt: skip
    dataset = load_dataset("t/minerl/a-v0")
    assert dataset.spec.env_spec.id == "vpt_gym/MineRLBasaltFindCave-v0"
    assert dataset.spec.env_spec.kwargs == {"minerl_id": "MineRLBasaltFindCave-v0"}
    assert (dataset.total_episodes, dataset.total_steps) == (2, 5)
    np.testing.assert_array_equal(next(dataset.iterate_episodes()).rewards, [0.0, 1.0, 2.0])
    assert (datasets_dir / "t" / "minerl" / "a-v0" / "data").is_dir()


def test_bad_input_is_a_clear_error() -> None:
    spaces = (gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Box(-1, 1, (2,), np.float32))
    bad = _episode(3)
    bad.rewards = bad.rewards[:2]
    with pytest.raises(ValueError, match=r"episode 0: 3 actions.*'rewards': 2"):
        write_dataset("t/x/b-v0", [bad], "vpt_gym/walker-walk-v0", *spaces)
    with pytest.raises(ValueError, match="unknown environment id 'nope-v0'"):
        write_dataset("t/x/b-v0", [_episode(3)], "nope-v0", *spaces)
    with pytest.raises(ValueError, match="no episodes"):
        write_dataset("t/x/b-v0", [], "vpt_gym/walker-walk-v0", *spaces)
    with pytest.raises(FileNotFoundError, match="no local Minari dataset 't/x/missing-v0'.*MINARI_DATASETS_PATH"):
        load_dataset("t/x/missing-v0")
    assert env_spec("vpt_gym/walker-walk-v0").kwargs == {"domain": "walker", "task": "walk"}


def test_a_missing_minari_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "minari", None)  # makes `import minari` fail
    with pytest.raises(MissingDependency, match=r'pip install -e "\.\[minari\]"'):
        load_dataset("t/x/a-v0")


def test_a_relative_datasets_path_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", "relative/datasets")  # Minari 0.5.4 alone fails on this
    spaces = (gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Box(-1, 1, (2,), np.float32))
    write_dataset("t/x/rel-v0", [_episode(2)], "vpt_gym/walker-walk-v0", *spaces, description="d", algorithm_name="x")
    assert load_dataset("t/x/rel-v0").total_steps == 2
    assert (tmp_path / "relative" / "datasets" / "t" / "x" / "rel-v0" / "data").is_dir()

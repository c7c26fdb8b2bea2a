"""Contractor data as Minari datasets (frames + VPT agent actions) and back as contractor pairs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.minari_datasets import load_dataset
from agents.vpt.contractor import ContractorPair, read_pair
from agents.vpt.minari_export import contractor_to_minari, iter_minari_recordings, minari_to_contractor
from tests.support.synthetic_vpt_data import write_synthetic_dataset

pytest.importorskip("minari", reason='Minari is not installed: pip install -e ".[dev]"')
pytestmark = pytest.mark.filterwarnings("ignore:`\\w+` is set to None")  # Minari asks for provenance metadata

ENV = "vpt_gym/MineRLBasaltFindCave-v0"


@pytest.fixture(autouse=True)
def datasets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))


def _read(path: Path, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    chunks = list(read_pair(ContractorPair.of(path), resolution=resolution, drop_null="none"))
    return np.concatenate([c.frames for c in chunks]), np.concatenate([c.agent_actions for c in chunks])


def test_contractor_recordings_round_trip_through_minari(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_synthetic_dataset(data, n_videos=2, n_frames=12, seed=3)
    dataset = contractor_to_minari(data, "vpt-gym/MineRLBasaltFindCave/synthetic-v0", env=ENV, resolution=32)
    assert (dataset.total_episodes, dataset.total_steps) == (2, 2 * 11)
    assert dataset.spec.env_spec.id == ENV  # recorded although MineRL cannot run here
    assert dataset.spec.action_space.nvec.tolist() == [8641, 121]
    assert dataset.spec.observation_space.shape == (32, 32, 3)
    episodes = list(load_dataset("vpt-gym/MineRLBasaltFindCave/synthetic-v0").iterate_episodes())
    frames, actions = _read(data / "video00.mp4", 32)
    assert len(np.unique(actions[:, 1])) > 1  # the camera moves: the check below can fail
    np.testing.assert_array_equal(episodes[0].observations, frames)  # lossless storage
    np.testing.assert_array_equal(episodes[0].actions, actions[:-1])  # the action at frame t leads to frame t+1
    np.testing.assert_array_equal(episodes[0].infos["agent_action"], actions)  # the last frame's action kept
    assert episodes[0].truncations[-1] and not episodes[0].terminations.any() and not episodes[0].rewards.any()
    # back to contractor pairs that the BC / IDM data path reads: same actions, frames through mp4v
    stems = minari_to_contractor("vpt-gym/MineRLBasaltFindCave/synthetic-v0", tmp_path / "back")
    assert [s.name for s in stems] == ["episode-000000", "episode-000001"]
    back_frames, back_actions = _read(tmp_path / "back" / "episode-000000.mp4", 32)
    np.testing.assert_array_equal(back_actions, actions)
    assert np.corrcoef(back_frames.ravel(), frames.ravel())[0, 1] > 0.9  # the same frames, through lossy mp4v


def test_crafter_recordings_keep_their_action_indices(tmp_path: Path) -> None:
    from agents.vpt.contractor import ContractorWriter

    rng = np.random.default_rng(0)
    indices = rng.integers(0, 17, 10)
    (tmp_path / "data").mkdir()
    with ContractorWriter(tmp_path / "data" / "run", action_codec="crafter") as writer:
        for index in indices:
            writer.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), {"action": int(index)})
    dataset = contractor_to_minari(tmp_path / "data", "vpt-gym/Crafter/demo-v0", env="vpt_gym/Crafter-v1",
                                   resolution=64, action_codec="crafter")  # fmt: skip
    assert dataset.spec.action_space.nvec.tolist() == [17] and dataset.spec.env_spec.id == "vpt_gym/Crafter-v1"
    episode = next(dataset.iterate_episodes())
    np.testing.assert_array_equal(episode.infos["agent_action"][:, 0], indices)
    minari_to_contractor("vpt-gym/Crafter/demo-v0", tmp_path / "back", action_codec="crafter")
    chunks = read_pair(tmp_path / "back" / "episode-000000.mp4", resolution=64, drop_null="none", action_codec="crafter")
    np.testing.assert_array_equal(np.concatenate([c.agent_actions for c in chunks])[:, 0], indices)


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown action codec 'dota'"):
        contractor_to_minari(tmp_path, "t/x/a-v0", env=ENV, action_codec="dota")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        contractor_to_minari(tmp_path / "nowhere", "t/x/a-v0", env=ENV)
    with pytest.raises(FileNotFoundError, match="no local Minari dataset"):
        list(iter_minari_recordings("t/x/none-v0"))

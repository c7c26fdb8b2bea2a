"""GenRL's released checkpoints by name through the Hub client, offline against a local Hub cache: the file
name and the spec's sha256 prefix are used, a mismatch removes the file, missing files name `hf download`."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")

from agents.genrl import released  # noqa: E402
from tests.support.genrl_reference import save_reference_checkpoint  # noqa: E402
from tests.support.hub_cache import offline_hub_cache, put_in_hub_cache  # noqa: E402


@pytest.fixture
def reference_file(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    save_reference_checkpoint(folder / "genrl_walker_500k_2.pt", stoch=2, classes=8, action_dim=3)
    return folder


def test_spec_names_and_hashes():
    assert released.RELEASED_REPO == "mazpie/genrl_models"
    assert released.RELEASED_GENRL["walker"] == released.ReleasedGenRL("genrl_walker_500k_2.pt", "9c223e37")
    assert released.RELEASED_GENRL["stickman"] == released.ReleasedGenRL("genrl_stickman_500k_2.pt", "ab9e0468")
    with pytest.raises(ValueError, match="unknown released GenRL model 'cheetah'.*genrl_cheetah_500k_2.pt"):
        released.fetch_official_genrl("cheetah")


def test_released_name_is_checked_against_the_spec_hash_and_loads_with_the_right_one(tmp_path, monkeypatch,
                                                                                   reference_file):
    cache = offline_hub_cache(monkeypatch, tmp_path / "hub-cache")
    snapshot = put_in_hub_cache(cache, released.RELEASED_REPO, reference_file)
    # our small stand-in is not the real 239 MB file: the spec's prefix 9c223e37 rejects it
    with pytest.raises(ValueError, match="sha256 is .* expected 9c223e37.*removed from the cache"):
        released.fetch_official_genrl("walker")
    assert not (snapshot / "genrl_walker_500k_2.pt").exists()
    put_in_hub_cache(cache, released.RELEASED_REPO, reference_file)
    digest = hashlib.sha256((reference_file / "genrl_walker_500k_2.pt").read_bytes()).hexdigest()
    path = released.fetch_official_genrl("walker", sha256=digest)
    assert path == snapshot / "genrl_walker_500k_2.pt"
    official = released.load_released_genrl("walker", sha256=digest[:8])
    assert official.world_model.config.action_dim == 3 and official.connector is not None
    assert released.fetch_official_genrl("genrl_walker_500k_2.pt") == path  # a file name: no built-in hash


def test_missing_release_offline_says_how_to_get_it(tmp_path, monkeypatch):
    offline_hub_cache(monkeypatch, tmp_path / "hub-cache")
    with pytest.raises(FileNotFoundError) as err:
        released.fetch_official_genrl("stickman")
    msg = str(err.value)
    assert "hf download mazpie/genrl_models genrl_stickman_500k_2.pt" in msg and "HF_HUB_OFFLINE=1" in msg
    assert list((tmp_path / "hub-cache").iterdir()) == []

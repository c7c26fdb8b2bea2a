"""Precomputed clip embeddings: the window ending at each step, zero padding, storage, resume, loader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.genrl.embeddings import (EmbeddedEpisodeStore, default_tag, embedding_path, embeddings_dir,
                                     precompute_embeddings, window_embeddings)
from agents.genrl.episodes import EpisodeStore
from agents.genrl.vlm.random_features import RandomFeatureVLM

K = 4


def _episode(length: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"observation": rng.integers(0, 256, (length, 3, 64, 64), dtype=np.uint8),
            "action": rng.standard_normal((length, 2)).astype(np.float32),
            "reward": np.zeros((length, 1), np.float32), "discount": np.ones((length, 1), np.float32),
            "is_first": np.arange(length) == 0, "is_last": np.arange(length) == length - 1,
            "is_terminal": np.zeros(length, bool)}


class CountingVLM(RandomFeatureVLM):
    """Counts the windows it embeds (to check that precomputation is resumable and not repeated)."""

    calls = 0

    def embed_windows(self, frames: np.ndarray, batch_size: int = 64) -> np.ndarray:
        out = super().embed_windows(frames, batch_size)
        CountingVLM.calls += len(out)
        return out


@pytest.fixture()
def store(tmp_path: Path) -> EpisodeStore:
    s = EpisodeStore(tmp_path / "episodes")
    for i, length in enumerate([11, 3, 9]):
        s.add(_episode(length, i))
    return s


def test_window_ending_at_each_step_and_zero_padding() -> None:
    vlm = RandomFeatureVLM(dim=16, n_frames=K)
    ep = _episode(10, 0)
    emb = window_embeddings(ep["observation"], vlm, batch_size=3)
    assert emb.shape == (10, 16) and emb.dtype == np.float32
    assert not emb[: K - 1].any()  # the reference's padding: first k-1 rows are zero
    frames = ep["observation"].transpose(0, 2, 3, 1)
    for t in (K - 1, 5, 9):
        np.testing.assert_allclose(emb[t], vlm.embed_video(frames[t - K + 1 : t + 1])[0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(emb[K - 1 :], axis=1), 1.0, atol=1e-5)
    assert not window_embeddings(ep["observation"][:2], vlm).any()  # shorter than k: all zero


def test_precompute_stores_beside_episodes_and_resumes(store: EpisodeStore) -> None:
    vlm = CountingVLM(dim=16, n_frames=K)
    CountingVLM.calls = 0
    tag = precompute_embeddings(store, vlm, batch_size=4, progress=False)
    assert tag == default_tag(vlm) == "random-features-d16-k4"
    assert CountingVLM.calls == (11 - 3) + 0 + (9 - 3)
    directory = embeddings_dir(store.directory, tag)
    assert sorted(p.suffix for p in directory.iterdir()) == [".json", ".npy", ".npy", ".npy"]
    assert len(EpisodeStore(store.directory)) == 3  # the episode index is not polluted
    for i in range(3):
        arr = np.load(embedding_path(store, i, directory))
        ep = store.load(i, ("observation",))["observation"]
        np.testing.assert_array_equal(arr, window_embeddings(ep, vlm))
    # interrupted run: one file missing, one truncated -> only those are recomputed
    embedding_path(store, 0, directory).unlink()
    np.save(embedding_path(store, 2, directory), np.zeros((4, 16), np.float32))
    CountingVLM.calls = 0
    precompute_embeddings(store, vlm, progress=False)
    assert CountingVLM.calls == (11 - 3) + (9 - 3)
    CountingVLM.calls = 0
    precompute_embeddings(store, vlm, progress=False)
    assert CountingVLM.calls == 0
    assert not list(directory.glob("*.tmp*"))


def test_refuses_to_mix_vlms_under_one_tag(store: EpisodeStore) -> None:
    precompute_embeddings(store, RandomFeatureVLM(dim=16, n_frames=K), tag="vids", progress=False)
    with pytest.raises(ValueError, match="different VLM"):
        precompute_embeddings(store, RandomFeatureVLM(dim=16, n_frames=K, seed=3), tag="vids", progress=False)
    precompute_embeddings(store, RandomFeatureVLM(dim=16, n_frames=K, seed=3), tag="vids", overwrite=True,
                          progress=False)
    with pytest.raises(ValueError, match="plain name"):
        embeddings_dir(store.directory, "../x")


def test_embedded_store_serves_aligned_clip_video(store: EpisodeStore) -> None:
    vlm = RandomFeatureVLM(dim=16, n_frames=K)
    with pytest.raises(FileNotFoundError, match="precompute_embeddings"):
        EmbeddedEpisodeStore(store.directory, "missing")
    tag = precompute_embeddings(store, vlm, progress=False)
    emb_store = EmbeddedEpisodeStore(store.directory, tag, cache_episodes=2)
    assert emb_store.embed_dim == 16
    batch = emb_store.sample(6, 8, np.random.default_rng(0), ("observation", "action", "clip_video"))
    assert batch["clip_video"].shape == (6, 8, 16) and batch["observation"].shape == (6, 8, 3, 64, 64)
    for b in range(6):
        e, s = int(batch["episode"][b]), int(batch["start"][b])
        full = window_embeddings(store.load(e, ("observation",))["observation"], vlm)
        np.testing.assert_allclose(batch["clip_video"][b], full[s : s + 8], atol=1e-6)
    store.add(_episode(9, 7))
    fresh = EmbeddedEpisodeStore(store.directory, tag)
    with pytest.raises(FileNotFoundError, match="no 'clip_video' embeddings"):
        fresh.load(3, ("clip_video",))


def test_command_line(store: EpisodeStore, capsys: pytest.CaptureFixture) -> None:
    from agents.genrl.embeddings import main

    main([str(store.directory), "--vlm", "random-features", "--tag", "cli"])
    out = capsys.readouterr().out
    assert "offline stand-in" in out and "cli" in out
    emb = EmbeddedEpisodeStore(store.directory, "cli")
    assert emb.meta["is_stand_in"] is True and emb.embed_dim == 512
    assert emb.load(0, ("clip_video",))["clip_video"].shape == (11, 512)

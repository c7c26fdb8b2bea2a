"""The offline stand-in ``random-features``: deterministic, unit-norm, motion-aware, vision only."""
from __future__ import annotations

import numpy as np
import pytest

from agents.genrl.vlm import NoTextTowerError, available_vlms, load_vlm
from agents.genrl.vlm.random_features import RandomFeatureVLM


def _moving_square(k: int = 8, direction: int = 1, size: int = 64, offset: int = 0) -> np.ndarray:
    frames = np.zeros((k, size, size, 3), np.uint8)
    for t in range(k):
        x = offset + 8 + direction * 4 * t if direction >= 0 else offset + 8 + 4 * (k - 1 - t)
        frames[t, 24:40, x : x + 12] = 255
    return frames


def test_registered_and_labelled_as_stand_in() -> None:
    assert "random-features" in available_vlms()
    vlm = load_vlm("random-features")
    assert isinstance(vlm, RandomFeatureVLM)
    assert vlm.is_stand_in and not vlm.has_text
    assert (vlm.dim, vlm.n_frames) == (512, 8)
    assert vlm.describe()["is_stand_in"] is True and "stand-in" in vlm.describe()["note"]


def test_text_prompts_refused_with_guidance() -> None:
    vlm = load_vlm("random-features", dim=8)
    with pytest.raises(NoTextTowerError, match="without a text tower") as info:
        vlm.embed_text("a walker running")
    assert 'pip install -e ".[vlm]"' in str(info.value) and "clip" in str(info.value) and "video" in str(info.value)


def test_deterministic_across_instances_and_seeded() -> None:
    clips = np.random.default_rng(0).integers(0, 256, (3, 8, 64, 64, 3), dtype=np.uint8)
    a = load_vlm("random-features", dim=64).embed_video(clips)
    b = RandomFeatureVLM(dim=64).embed_video(clips)
    c = RandomFeatureVLM(dim=64, seed=1).embed_video(clips)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-3)
    assert a.shape == (3, 64) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(RandomFeatureVLM(dim=64).embed_video(clips[1]), a[1:2], atol=1e-6)


def test_motion_matters() -> None:
    vlm = RandomFeatureVLM(dim=256)
    right = _moving_square(direction=1)
    left = _moving_square(direction=-1)  # the same frames in reverse order
    static = np.repeat(right[:1], 8, axis=0)
    e = vlm.embed_video(np.stack([right, left, static, _moving_square(direction=1, offset=2)]))
    sim = e @ e.T
    assert sim[0, 3] > sim[0, 1] + 0.1  # same motion, slightly shifted > same frames in reverse
    assert sim[0, 3] > sim[0, 2] + 0.1  # same motion > no motion
    assert sim[0, 1] < 0.9  # reversing time changes the embedding


def test_bad_input() -> None:
    vlm = RandomFeatureVLM(dim=8, n_frames=4)
    with pytest.raises(ValueError, match="k=4"):
        vlm.embed_video(np.zeros((1, 3, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="even"):
        RandomFeatureVLM(dim=7)
    with pytest.raises(ValueError, match="source"):
        load_vlm("random-features", source="/tmp/x")


def test_registry_errors() -> None:
    with pytest.raises(ValueError, match="unknown VLM 'nope'.*random-features"):
        load_vlm("nope")
    with pytest.raises(ValueError, match="ViCLIP.*internvideo2"):
        load_vlm("viclip")


def test_fast_windows_equal_clip_by_clip_embedding() -> None:
    from agents.genrl.vlm.base import VLM

    vlm = RandomFeatureVLM(dim=32, n_frames=4)
    video = np.random.default_rng(5).integers(0, 256, (11, 64, 64, 3), dtype=np.uint8)
    fast = vlm.embed_windows(video)
    generic = VLM.embed_windows(vlm, video, batch_size=3)  # the interface's sliding-window default
    assert fast.shape == generic.shape == (8, 32)
    np.testing.assert_allclose(fast, generic, atol=1e-6)
    np.testing.assert_allclose(fast[2], vlm.embed_video(video[2:6])[0], atol=1e-6)
    with pytest.raises(ValueError, match="T>=4"):
        vlm.embed_windows(video[:3])

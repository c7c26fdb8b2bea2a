"""The VLM interface helpers that need no model: prompt clips, validation, preprocessing, locating weights."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from agents.genrl.vlm import MissingWeightsError, load_vlm
from agents.genrl.vlm.base import check_clips, check_prompts, preprocess_frames, prompt_clip, resolve_model_dir
from vpt_gym.optional import MissingDependency


def _video(values: np.ndarray) -> np.ndarray:
    return (values.astype(np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)).astype(np.uint8)


def test_prompt_clip_follows_genrl_rules() -> None:
    assert prompt_clip(_video(np.arange(4)), 8)[:, 0, 0, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # 4 frames: 2x
    assert prompt_clip(_video(np.array([7])), 8)[:, 0, 0, 0].tolist() == [7] * 8  # an image: 8x
    long = _video(np.arange(300) % 256)
    assert prompt_clip(long, 8)[:, 0, 0, 0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14]  # stride 300 // 128 = 2
    assert prompt_clip(_video(np.arange(20)), 8)[:, 0, 0, 0].tolist() == list(range(8))  # first 8 frames
    with pytest.raises(ValueError, match="has 3 frames"):
        prompt_clip(long[:3], 8)
    with pytest.raises(ValueError, match="one \\(T, H, W, 3\\)"):
        prompt_clip(np.stack([long[:8], long[:8]]), 8)


def test_check_clips_and_prompts() -> None:
    assert check_clips(np.zeros((4, 8, 8, 3), np.uint8), 4).shape == (1, 4, 8, 8, 3)
    with pytest.raises(ValueError, match="k=8 frames, got k=4"):
        check_clips(np.zeros((2, 4, 8, 8, 3), np.uint8), 8)
    with pytest.raises(TypeError, match="uint8"):
        check_clips(np.zeros((4, 8, 8, 3)), 4)
    assert check_prompts("walk") == ["walk"]
    with pytest.raises(ValueError, match="3000 characters"):
        check_prompts("x" * 3000)
    with pytest.raises(TypeError, match="prompt 1 must be a str"):
        check_prompts(["a", 3])  # type: ignore[list-item]


def test_preprocess_frames_resize_crop_and_normalise() -> None:
    frames = np.zeros((1, 40, 80, 3), np.uint8)
    frames[:, :, 20:60] = 255  # a white centre band: after short-side resize to 20 and centre crop 20x20 it fills it
    x = preprocess_frames(frames, (20, 20), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), resample=2, shortest_edge=20)
    assert x.shape == (1, 3, 20, 20)
    np.testing.assert_allclose(x[0, :, 5:15, 5:15].numpy(), 1.0, atol=1e-5)  # (1 - 0.5) / 0.5
    y = preprocess_frames(frames, (10, 30), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), resample=3)
    assert y.shape == (1, 3, 10, 30) and float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_missing_weights_messages(tmp_path: Path) -> None:
    groups = [("config.json",), ("model.safetensors", "pytorch_model.bin")]
    with pytest.raises(MissingWeightsError, match="config.json, model.safetensors or pytorch_model.bin"):
        resolve_model_dir(tmp_path / "nowhere", "clip", groups)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(MissingWeightsError, match=r"lacks model\.safetensors or pytorch_model\.bin"):
        resolve_model_dir(tmp_path, "clip", groups)
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert resolve_model_dir(tmp_path, "clip", groups) == tmp_path


def test_real_backends_name_the_extra_when_transformers_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(MissingDependency, match=r"pip install -e \"\.\[vlm\]\""):
        load_vlm("clip:/nonexistent")

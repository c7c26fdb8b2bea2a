"""CLIP / SigLIP / X-CLIP backends on tiny random models saved with ``save_pretrained`` (real loading code)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from agents.genrl.vlm import MissingWeightsError, load_vlm  # noqa: E402
from tests.support.tiny_vlm import MEAN, STD, build_clip, build_siglip, build_xclip  # noqa: E402

BUILDERS = {"clip": build_clip, "siglip": build_siglip, "xclip": build_xclip}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_vlms")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def backends(model_dirs: dict[str, Path]) -> dict:
    return {name: load_vlm(f"{name}:{path}") for name, path in model_dirs.items()}


def _frames(n: int, k: int, seed: int = 0, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, k, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_loads_from_directory_with_model_preprocessing(backends: dict, model_dirs: dict, name: str) -> None:
    vlm = backends[name]
    assert vlm.name == name and vlm.has_text and not vlm.is_stand_in
    assert vlm.image.size == (32, 32)
    assert vlm.image.mean == MEAN and vlm.image.std == STD  # read from the directory, not defaults
    assert vlm.n_frames == (4 if name == "xclip" else 1)
    assert vlm.dim == (16 if name == "siglip" else 12)
    # a bare directory is recognised by its config.json model_type
    assert type(load_vlm(model_dirs[name])) is type(vlm)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_embeddings_shapes_unit_norm_and_batch_consistency(backends: dict, name: str) -> None:
    vlm = backends[name]
    clips = _frames(5, vlm.n_frames)
    e = vlm.embed_video(clips, batch_size=2)
    assert e.shape == (5, vlm.dim) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vlm.embed_video(clips[3]), e[3:4], atol=1e-5)  # single clip == batched
    np.testing.assert_allclose(vlm.embed_video(clips), e, atol=1e-6)  # deterministic
    assert not np.allclose(e[0], e[1], atol=1e-3)  # different clips, different embeddings
    prompts = ["a walker runs", "the cheetah jumps fast on the floor", "robot"]
    t = vlm.embed_text(prompts)
    assert t.shape == (3, vlm.dim)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vlm.embed_text("robot"), t[2:], atol=1e-5)  # padding does not change it
    np.testing.assert_allclose(vlm.embed_text(prompts), t, atol=1e-6)
    assert not np.allclose(t[0], t[1], atol=1e-3)


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_image_preprocessing_matches_hf_processor(backends: dict, model_dirs: dict, name: str) -> None:
    from transformers import AutoImageProcessor

    proc = AutoImageProcessor.from_pretrained(str(model_dirs[name]))
    rng = np.random.default_rng(1)
    for shape in [(64, 64), (48, 80)]:
        noise = rng.integers(0, 256, (2, *shape, 3)).astype(float)
        smooth = (np.cumsum(noise, axis=1) / np.arange(1, shape[0] + 1)[None, :, None, None]).astype(np.uint8)
        ours = backends[name].image(smooth)
        ref = torch.as_tensor(np.asarray(proc(images=list(smooth), return_tensors="pt")["pixel_values"]))
        assert ours.shape == ref.shape == (2, 3, 32, 32)
        # PIL resamples in uint8, we in float: agreement within ~2/255 after normalisation
        assert (ours - ref).abs().max() < 0.05 and (ours - ref).abs().mean() < 0.01


def test_preprocessing_normalisation_constants_exact(backends: dict) -> None:
    const = np.full((1, 32, 32, 3), 128, np.uint8)  # no resize: exact value check
    x = backends["siglip"].image(const)
    expected = (128 / 255 - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), expected, atol=1e-6)


def test_image_models_average_frames_of_a_clip(backends: dict) -> None:
    vlm = backends["clip"]
    clip = _frames(1, 3, seed=2)
    per_frame = vlm.embed_video(clip[0][:, None])  # 3 clips of one frame
    mean = per_frame.mean(0)
    np.testing.assert_allclose(vlm.embed_video(clip)[0], mean / np.linalg.norm(mean), atol=1e-5)


def test_video_model_needs_its_k(backends: dict) -> None:
    with pytest.raises(ValueError, match="k=4"):
        backends["xclip"].embed_video(_frames(1, 3))
    one = backends["xclip"].embed_prompt_video(_frames(1, 2)[0])  # 2 frames repeated 2x -> 4
    assert one.shape == (1, 12)


def test_temporal_order_matters_for_xclip(backends: dict) -> None:
    clip = _frames(1, 4, seed=3)
    assert not np.allclose(backends["xclip"].embed_video(clip), backends["xclip"].embed_video(clip[:, ::-1].copy()),
                           atol=1e-4)


def test_bad_inputs(backends: dict) -> None:
    vlm = backends["clip"]
    with pytest.raises(TypeError, match="uint8"):
        vlm.embed_video(np.zeros((1, 1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, k, H, W, 3\)"):
        vlm.embed_video(np.zeros((1, 1, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        vlm.embed_text(["  "])
    with pytest.raises(ValueError, match="no prompts"):
        vlm.embed_text([])


def test_missing_weights_errors_name_the_files(tmp_path: Path, model_dirs: dict) -> None:
    with pytest.raises(MissingWeightsError, match="model.safetensors or pytorch_model.bin"):
        load_vlm(f"clip:{tmp_path}")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_bytes((model_dirs["clip"] / "config.json").read_bytes())
    with pytest.raises(MissingWeightsError, match=r"lacks .*model\.safetensors.*preprocessor_config\.json"):
        load_vlm(f"clip:{partial}")
    with pytest.raises(MissingWeightsError, match="Hugging Face cache"):
        load_vlm("siglip:nobody/not-a-cached-model")
    with pytest.raises(ValueError, match="holds a 'clip' model, expected 'siglip'"):
        load_vlm(f"siglip:{model_dirs['clip']}")


def test_loads_a_hub_id_from_the_local_cache_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     model_dirs: dict) -> None:
    import shutil

    import huggingface_hub.constants as hub_constants

    revision = "0" * 40
    repo = tmp_path / "models--tiny--clip"
    shutil.copytree(model_dirs["clip"], repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vlm = load_vlm("clip", source="tiny/clip")
    assert vlm.directory == repo / "snapshots" / revision
    np.testing.assert_allclose(vlm.embed_text("robot"), load_vlm(model_dirs["clip"]).embed_text("robot"), atol=1e-6)


def test_window_embeddings_of_an_episode_with_a_video_model(backends: dict) -> None:
    from agents.genrl.embeddings import window_embeddings

    vlm = backends["xclip"]
    obs = np.random.default_rng(4).integers(0, 256, (7, 3, 64, 64), dtype=np.uint8)
    emb = window_embeddings(obs, vlm, batch_size=2)
    assert emb.shape == (7, 12) and not emb[:3].any()
    np.testing.assert_allclose(emb[5], vlm.embed_video(obs[2:6].transpose(0, 2, 3, 1))[0], atol=1e-5)

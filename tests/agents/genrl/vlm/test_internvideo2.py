"""InternVideo2 backend on tiny random checkpoints written in the real file's key layout (real loading path).

Fidelity checks against independent computations: the vision tower against a literal transcription of the
reference's tensor operations (``PretrainInternVideo2.forward``, ``Attention._naive_attn``,
``AttentionPoolingBlock``), the text tower against ``transformers``' own ``BertModel`` with the same weights,
the position-embedding interpolation against hand-computed values, and the full 1B parameter count against
arithmetic from the reference's module definitions.
"""
from __future__ import annotations

import math
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from agents.genrl.vlm import MissingWeightsError, load_vlm  # noqa: E402
from agents.genrl.vlm.base import prompt_clip  # noqa: E402
from agents.genrl.vlm.internvideo2 import (CHECKPOINT_NAME, HUB_REPO, InternVideo2Backend,  # noqa: E402
                                           InternVideo2CheckpointError, ignored_keys, used_keys)
from agents.genrl.vlm.internvideo2_model import (InternVideo2Config, TextTower, VisionTower,  # noqa: E402
                                                 interpolate_temporal)
from tests.support.tiny_internvideo2 import VOCAB, random_state_dict, save_tiny_internvideo2, save_vocab  # noqa: E402

CFG = InternVideo2Config.tiny()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("iv2")
    save_tiny_internvideo2(directory, CFG, seed=0)
    return directory


@pytest.fixture(scope="module")
def vlm(model_dir: Path) -> InternVideo2Backend:
    return load_vlm(f"internvideo2:{model_dir}")


def _clips(n: int, seed: int = 0, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, size, size, 3), dtype=np.uint8)


def _ckpt_state(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / CHECKPOINT_NAME, weights_only=True)["model"]


# ---------------------------------------------------------------------- interface
def test_loads_through_the_registry_with_genrl_defaults(vlm: InternVideo2Backend, model_dir: Path) -> None:
    assert vlm.name == "internvideo2" and vlm.has_text and not vlm.is_stand_in
    assert vlm.dim == 512 and vlm.n_frames == 8  # GenRL: viclip_emb_dim 512, n_frames 8
    assert vlm.config == CFG  # read from internvideo2_config.json beside the checkpoint
    assert vlm.describe()["source"] == str(model_dir / CHECKPOINT_NAME)
    # the file itself, and source= instead of name:source, give the same model
    same = load_vlm("internvideo2", source=str(model_dir / CHECKPOINT_NAME))
    np.testing.assert_array_equal(same.embed_video(_clips(1)), vlm.embed_video(_clips(1)))
    assert InternVideo2Config().n_frames == 8 and InternVideo2Config().checkpoint_frames == 4
    assert InternVideo2Config().embed_dim == 512 and InternVideo2Config().max_text_len == 40


def test_embeddings_shapes_unit_norm_batching_and_padding(vlm: InternVideo2Backend) -> None:
    clips = _clips(5)
    e = vlm.embed_video(clips, batch_size=2)
    assert e.shape == (5, 512) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vlm.embed_video(clips[3]), e[3:4], atol=1e-5)
    assert not np.allclose(e[0], e[1], atol=1e-3)
    with pytest.raises(ValueError, match="k=8"):
        vlm.embed_video(clips[:, :4])
    prompts = ["a walker runs", "the cheetah jumps fast on the floor", "robot"]
    t = vlm.embed_text(prompts)
    assert t.shape == (3, 512)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vlm.embed_text("robot"), t[2:], atol=1e-5)
    assert not np.allclose(t[0], t[1], atol=1e-3)
    tokens = vlm.tokenize(["a walker runs"])
    assert tokens["input_ids"].shape == (1, CFG.max_text_len)  # padding="max_length"
    ids = tokens["input_ids"][0].tolist()
    assert ids[:5] == [2, VOCAB.index("a"), VOCAB.index("walker"), VOCAB.index("runs"), 3] and set(ids[5:]) == {0}
    assert vlm.tokenize(["A WALKER"])["input_ids"][0, 1] == VOCAB.index("a")  # uncased


def test_frame_preprocessing_is_genrl_s(vlm: InternVideo2Backend) -> None:
    # GenRL upsamples 64 x 64 frames to 224; here 16 x 16 frames to the tiny model's 28 (upsampling too)
    clip = _clips(1, seed=3, size=16)
    x = vlm.preprocess(clip)
    assert x.shape == (1, 3, 8, CFG.image_size, CFG.image_size)
    frames = torch.from_numpy(clip[0]).permute(0, 3, 1, 2).float() / 255.0  # /255
    resized = F.interpolate(frames, size=(CFG.image_size,) * 2, mode="bilinear", align_corners=False)  # bilinear
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = ((resized - mean) / std).permute(1, 0, 2, 3)[None]  # ImageNet mean/std; (B, 3, T, S, S)
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=1e-5)
    # larger frames are downsampled with antialiasing (torchvision's tensor Resize default)
    big = _clips(1, seed=3, size=64)
    frames = torch.from_numpy(big[0]).permute(0, 3, 1, 2).float() / 255.0
    resized = F.interpolate(frames, size=(CFG.image_size,) * 2, mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(vlm.preprocess(big), ((resized - mean) / std).permute(1, 0, 2, 3)[None],
                               atol=1e-5, rtol=1e-5)


def test_prompt_videos_follow_get_video_feat(vlm: InternVideo2Backend) -> None:
    rng = np.random.default_rng(4)
    one = rng.integers(0, 256, (1, 40, 40, 3), dtype=np.uint8)
    np.testing.assert_allclose(vlm.embed_prompt_video(one), vlm.embed_video(np.repeat(one, 8, axis=0)[None]), atol=1e-6)
    four = rng.integers(0, 256, (4, 40, 40, 3), dtype=np.uint8)
    np.testing.assert_allclose(vlm.embed_prompt_video(four), vlm.embed_video(np.repeat(four, 2, axis=0)[None]),
                               atol=1e-6)
    long = rng.integers(0, 256, (300, 16, 16, 3), dtype=np.uint8)  # stride 300 // 128 = 2, first 8
    np.testing.assert_array_equal(prompt_clip(long, 8), long[::2][:8])
    np.testing.assert_allclose(vlm.embed_prompt_video(long), vlm.embed_video(long[::2][:8][None]), atol=1e-6)


def test_bfloat16_inference_is_close_to_float32(model_dir: Path, vlm: InternVideo2Backend) -> None:
    bf = load_vlm("internvideo2", source=str(model_dir), dtype="bfloat16")
    assert bf.vision.blocks[0].attn.qkv.weight.dtype == torch.bfloat16
    assert bf.describe()["dtype"] == "bfloat16"
    cos_v = (bf.embed_video(_clips(3)) * vlm.embed_video(_clips(3))).sum(1)
    cos_t = (bf.embed_text(["a walker runs", "robot"]) * vlm.embed_text(["a walker runs", "robot"])).sum(1)
    assert cos_v.min() > 0.99 and cos_t.min() > 0.99
    with pytest.raises(ValueError, match="dtype"):
        load_vlm("internvideo2", source=str(model_dir), dtype="float16")


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux /proc/self/maps")
def test_fp32_weights_are_used_in_place_from_the_memory_mapped_file(vlm: InternVideo2Backend,
                                                                    model_dir: Path) -> None:
    path = str(model_dir / CHECKPOINT_NAME)
    maps = [line.split()[0] for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith(path)]
    spans = [tuple(int(x, 16) for x in m.split("-")) for m in maps]

    def mapped(t: torch.Tensor) -> bool:
        return any(lo <= t.data_ptr() < hi for lo, hi in spans)

    assert spans, "the checkpoint is not memory-mapped"
    assert mapped(vlm.vision.blocks[0].mlp.fc1.weight) and mapped(vlm.text.layers[0].output.dense.weight)
    assert not mapped(vlm.vision.pos_embed)  # interpolated to 8 frames: a new tensor


# ---------------------------------------------------------------------- fidelity
def _reference_vision(state: dict[str, torch.Tensor], c: InternVideo2Config, video: torch.Tensor) -> torch.Tensor:
    """A literal transcription of the reference's operations (tensor by tensor), from the checkpoint dict."""
    s = {k[len("vision_encoder."):]: v for k, v in state.items() if k.startswith("vision_encoder.")}
    # interpolate_pos_embed_internvideo2_new, time axis only (the spatial size matches)
    pos = s["pos_embed"]
    extra, tokens = pos[:, :1], pos[:, 1:]
    tokens = tokens.view(1, c.checkpoint_frames, -1, c.vision_width).permute(0, 2, 3, 1)
    tokens = tokens.reshape(-1, c.vision_width, c.checkpoint_frames)
    tokens = F.interpolate(tokens, size=c.n_frames, mode="linear").view(1, -1, c.vision_width, c.n_frames)
    pos = torch.cat((extra, tokens.permute(0, 3, 1, 2).reshape(1, -1, c.vision_width)), dim=1)

    def rms(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    x = F.conv3d(video.permute(0, 2, 1, 3, 4), s["patch_embed.proj.weight"], s["patch_embed.proj.bias"],
                 stride=(c.tubelet_size, c.patch_size, c.patch_size))  # [B,T,C,H,W] -> [B,C,T,H,W] first
    x = x.flatten(3).permute(0, 2, 3, 1)
    b, t, l, d = x.shape
    x = torch.cat((s["cls_token"].expand(b, -1, -1), x.reshape(b, t * l, d)), dim=1) + pos
    heads = c.vision_heads
    for i in range(c.vision_depth):
        p = f"blocks.{i}."
        h = rms(x, s[p + "norm1.weight"])
        n = h.shape[1]
        qkv = (h @ s[p + "attn.qkv.weight"].T).reshape(b, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = rms(q.transpose(1, 2).flatten(-2, -1), s[p + "attn.q_norm.weight"]).view(b, n, heads, -1).transpose(1, 2)
        k = rms(k.transpose(1, 2).flatten(-2, -1), s[p + "attn.k_norm.weight"]).view(b, n, heads, -1).transpose(1, 2)
        attn = ((q * (d // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        a = (attn @ v).transpose(1, 2).reshape(b, n, d) @ s[p + "attn.proj.weight"].T + s[p + "attn.proj.bias"]
        x = x + a * s[p + "ls1.gamma"]
        h = rms(x, s[p + "norm2.weight"])
        h = F.gelu(h @ s[p + "mlp.fc1.weight"].T + s[p + "mlp.fc1.bias"]) @ s[p + "mlp.fc2.weight"].T + s[p + "mlp.fc2.bias"]
        x = x + h * s[p + "ls2.gamma"]
    cp = "clip_projector."

    def ln(z: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(z, (d,), s[cp + name + ".weight"], s[cp + name + ".bias"], eps=1e-5)

    xq, xk, xv = ln(x.mean(1, keepdim=True), "norm1_q"), ln(x, "norm1_k"), ln(x, "norm1_v")
    ph = c.pool_heads
    q = F.linear(xq, s[cp + "cross_attn.q.weight"], s[cp + "cross_attn.q_bias"]).reshape(b, 1, 1, ph, -1)
    q = q.permute(2, 0, 3, 1, 4).squeeze(0)
    k = F.linear(xk, s[cp + "cross_attn.k.weight"], s[cp + "cross_attn.k_bias"]).reshape(b, -1, 1, ph, d // ph)
    k = k.permute(2, 0, 3, 1, 4).squeeze(0)
    v = F.linear(xv, s[cp + "cross_attn.v.weight"], s[cp + "cross_attn.v_bias"]).reshape(b, -1, 1, ph, d // ph)
    v = v.permute(2, 0, 3, 1, 4).squeeze(0)
    attn = ((q * (d // ph) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    pooled = (attn @ v).transpose(1, 2).reshape(b, 1, -1) @ s[cp + "cross_attn.proj.weight"].T
    pooled = (pooled + s[cp + "cross_attn.proj.bias"]).squeeze(1)
    feat = pooled @ state["vision_proj.weight"].T + state["vision_proj.bias"]
    return feat / feat.norm(dim=-1, keepdim=True)  # get_vid_features


def test_vision_tower_matches_a_literal_transcription_of_the_reference(vlm: InternVideo2Backend,
                                                                        model_dir: Path) -> None:
    clips = _clips(2, seed=7)
    video = vlm.preprocess(clips).transpose(1, 2)  # the reference's [B, T, C, H, W] input
    expected = _reference_vision(_ckpt_state(model_dir), CFG, video.double().float())
    np.testing.assert_allclose(vlm.embed_video(clips), expected.numpy(), atol=2e-5)


def test_text_tower_matches_transformers_bert_with_the_same_weights(vlm: InternVideo2Backend,
                                                                    model_dir: Path) -> None:
    from transformers import BertConfig, BertModel

    state = _ckpt_state(model_dir)
    config = BertConfig(vocab_size=CFG.vocab_size, hidden_size=CFG.text_width, num_hidden_layers=CFG.fusion_layer,
                        num_attention_heads=CFG.text_heads, intermediate_size=CFG.text_intermediate,
                        max_position_embeddings=CFG.max_position, layer_norm_eps=1e-12, hidden_act="gelu",
                        attn_implementation="eager")
    bert = BertModel(config, add_pooling_layer=False).eval()
    prefix = "text_encoder.bert."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)
               and not k.endswith("position_ids")
               and not any(f"encoder.layer.{i}." in k for i in range(CFG.fusion_layer, CFG.text_layers))}
    missing, unexpected = bert.load_state_dict(weights, strict=False)
    assert not unexpected and all("position_ids" in m or "token_type_ids" in m for m in missing)
    prompts = ["a walker runs", "the cheetah jumps fast on the floor"]
    tokens = vlm.tokenize(prompts)
    with torch.no_grad():
        cls = bert(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state[:, 0]
    feat = cls @ state["text_proj.weight"].T + state["text_proj.bias"]
    np.testing.assert_allclose(vlm.embed_text(prompts), F.normalize(feat, dim=-1).numpy(), atol=2e-5)


def test_temporal_interpolation_of_position_embeddings() -> None:
    # 4 -> 8 frames, linear, half-pixel centres: frame j samples source position (j + 0.5) / 2 - 0.5, clamped
    values = torch.tensor([0.0, 1.0, 4.0, 10.0])
    pos = torch.cat([torch.tensor([[7.0]]), values.view(4, 1)])[None]  # (1, 1 + 4 * 1, 1): one spatial token
    out = interpolate_temporal(pos, 4, 8)[0, :, 0]
    assert out[0] == 7.0  # the class row is kept
    expected = [0.0, 0.25, 0.75, 1.75, 3.25, 5.5, 8.5, 10.0]
    torch.testing.assert_close(out[1:], torch.tensor(expected))
    # several spatial tokens: time-major layout (frame, then position) is kept
    grid = torch.arange((1 + 4 * 3) * 2, dtype=torch.float32).view(1, 1 + 4 * 3, 2)  # 3 positions, 2 channels
    out = interpolate_temporal(grid, 4, 8)[0, 1:].view(8, 3, 2)
    src = grid[0, 1:].view(4, 3, 2)
    torch.testing.assert_close(out[0], src[0])
    torch.testing.assert_close(out[1], 0.75 * src[0] + 0.25 * src[1])
    with pytest.raises(ValueError, match="does not hold 4 frames"):
        interpolate_temporal(torch.zeros(1, 6, 2), 4, 8)


def test_full_1b_parameter_count_matches_the_reference_definitions() -> None:
    """Arithmetic from the reference's modules (pretrain_internvideo2_1b_patch14_224, xbert, demo model).

    Vision, D = 1408, hidden int(1408 * 48 / 11) = 6144, 40 blocks, 8 frames of 16 x 16 patches:
      patch embed Conv3d(3, D, (1, 14, 14)) + bias = 3*14*14*D + D;  cls token D;  pos_embed (1 + 8*256) * D;
      block = RMSNorm D + qkv 3D*D (no bias) + proj D*D + D + q_norm D + k_norm D + ls1 D + RMSNorm D
              + fc1 D*6144 + 6144 + fc2 6144*D + D + ls2 D;
      clip_projector = 3 LayerNorms 2D each + q, k, v D*D each + q/k/v biases 3D + proj D*768 + 768;
      vision_proj 768*512 + 512.
    Text, W = 1024, 19 of 24 BERT-large layers:
      embeddings 30522*W + 512*W + 2*W + LayerNorm 2W;
      layer = 3 (W*W + W) + (W*W + W) + 2W + (W*4096 + 4096) + (4096*W + W) + 2W;  text_proj W*512 + 512.
    The released file also holds (unused here): img_pos_embed and clip_img_pos_embed (1 + 256) * D each,
    clip_pos_embed (1 + 4*256) * D, 6 clip_decoders (D*3200 + 3200 + 2*3200), final_clip_decoder (768*768 + 768
    + 2*768), 5 fusion layers each with cross-attention (W*W + W) + 2 (D*W + W) + (W*W + W) + 2W,
    the MLM head (W*W + W) + 2W + 30522 (its decoder weight is tied to the word embeddings), temp 1,
    itm_head 2W + 2.
    """
    d, hid, w = 1408, int(1408 * 48 / 11), 1024
    block = d + 3 * d * d + d * d + d + d + d + d + d + d * hid + hid + hid * d + d + d
    pool = 3 * 2 * d + 3 * d * d + 3 * d + d * 768 + 768
    vision = 3 * 14 * 14 * d + d + d + (1 + 8 * 256) * d + 40 * block + pool + 768 * 512 + 512
    layer = 3 * (w * w + w) + (w * w + w) + 2 * w + (w * 4096 + 4096) + (4096 * w + w) + 2 * w
    text = 30522 * w + 512 * w + 2 * w + 2 * w + 19 * layer + w * 512 + 512
    assert hid == 6144 and vision == 1_021_102_336 and text == 271_635_968
    cfg = InternVideo2Config()
    with torch.device("meta"):
        ours_v, ours_t = VisionTower(cfg), TextTower(cfg)
    assert sum(p.numel() for p in ours_v.parameters()) == vision
    assert sum(p.numel() for p in ours_t.parameters()) == text
    cross = (w * w + w) + 2 * (d * w + w) + (w * w + w) + 2 * w
    unused = (2 * (1 + 256) * d + (1 + 4 * 256) * d + 6 * (d * 3200 + 3200 + 2 * 3200) + (768 * 768 + 768 + 2 * 768)
              + 5 * (layer + cross) + (w * w + w) + 2 * w + 30522 + 1 + 2 * w + 2)
    in_file = vision - 4 * 256 * d + text + unused  # the file's pos_embed holds 4 frames
    tied = {"text_encoder.cls.predictions.decoder.weight", "text_encoder.cls.predictions.decoder.bias",
            "text_encoder.bert.embeddings.position_ids"}  # tied copies and a buffer: not parameters
    layout = [s for _, s in used_keys(cfg).values()] + [s for k, s in ignored_keys(cfg).items() if k not in tied]
    assert sum(math.prod(s) for s in layout) == in_file == 1_410_146_493


# ---------------------------------------------------------------------- loading and refusals
def test_checkpoint_variants_load_the_same_model(tmp_path: Path, vlm: InternVideo2Backend) -> None:
    clip = _clips(1)
    for wrap, extras in (("module", True), (None, True), ("model", False)):  # deepspeed, bare, trimmed
        d = tmp_path / f"{wrap}-{extras}"
        save_tiny_internvideo2(d, CFG, seed=0, extras=extras, wrap=wrap)
        np.testing.assert_allclose(load_vlm("internvideo2", source=str(d)).embed_video(clip), vlm.embed_video(clip),
                                   atol=1e-6)


def _write(tmp_path: Path, state: object, name: str = "bad") -> Path:
    d = tmp_path / name
    save_tiny_internvideo2(d, CFG)
    torch.save(state, d / CHECKPOINT_NAME)
    return d


def test_tampered_checkpoints_are_refused_with_the_keys_named(tmp_path: Path) -> None:
    good = random_state_dict(CFG)
    wrong = dict(good, **{"vision_encoder.blocks.0.attn.qkv.weight": torch.zeros(3, 3)})
    with pytest.raises(InternVideo2CheckpointError, match=r"wrong shapes.*blocks\.0\.attn\.qkv\.weight: \(3, 3\)"):
        load_vlm("internvideo2", source=str(_write(tmp_path, {"model": wrong}, "shape")))
    missing = {k: v for k, v in good.items() if k != "text_proj.weight"}
    with pytest.raises(InternVideo2CheckpointError, match=r"1 missing keys: 'text_proj\.weight'"):
        load_vlm("internvideo2", source=str(_write(tmp_path, {"model": missing}, "missing")))
    extra = dict(good, **{f"vision_encoder.blocks.{i}.surprise": torch.zeros(1) for i in range(25)})
    with pytest.raises(InternVideo2CheckpointError, match=r"25 unexpected keys: .*surprise.*\(15 more\)"):
        load_vlm("internvideo2", source=str(_write(tmp_path, {"model": extra}, "unexpected")))
    payload = dict(good, **{"vision_proj.weight": "not a tensor"})
    with pytest.raises(InternVideo2CheckpointError, match=r"'vision_proj\.weight': str"):
        load_vlm("internvideo2", source=str(_write(tmp_path, {"model": payload}, "payload")))
    ints = dict(good, **{"vision_proj.bias": torch.zeros(512, dtype=torch.int64)})
    with pytest.raises(InternVideo2CheckpointError, match="expected floating point"):
        load_vlm("internvideo2", source=str(_write(tmp_path, {"model": ints}, "ints")))
    with pytest.raises(InternVideo2CheckpointError, match="expected a dict, got list"):
        load_vlm("internvideo2", source=str(_write(tmp_path, [1, 2], "list")))


class _Boom:
    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (Path("/tmp/iv2_should_not_exist"),))


def test_code_in_the_checkpoint_never_runs(tmp_path: Path) -> None:
    d = tmp_path / "evil"
    save_tiny_internvideo2(d, CFG)
    marker = Path("/tmp/iv2_should_not_exist")
    marker.unlink(missing_ok=True)
    torch.save({"model": {"x": _Boom()}}, d / CHECKPOINT_NAME)
    with pytest.raises(InternVideo2CheckpointError, match="weights-only"):
        load_vlm("internvideo2", source=str(d))
    assert not marker.exists()
    (d / CHECKPOINT_NAME).write_bytes(pickle.dumps({"model": {}}))  # a plain pickle, not a torch archive
    with pytest.raises(InternVideo2CheckpointError, match="cannot be read"):
        load_vlm("internvideo2", source=str(d))
    with zipfile.ZipFile(d / CHECKPOINT_NAME, "w") as z:
        z.writestr("archive/data.pkl", b"garbage")
    with pytest.raises(InternVideo2CheckpointError, match="cannot be read"):
        load_vlm("internvideo2", source=str(d))


def test_missing_files_say_where_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for kw in ({}, {"source": str(tmp_path / "nowhere.pt")}, {"source": str(tmp_path)}):
        with pytest.raises(MissingWeightsError) as err:
            load_vlm("internvideo2", **kw)
        msg = str(err.value)
        assert f"https://huggingface.co/{HUB_REPO}" in msg and CHECKPOINT_NAME in msg and "models/" in msg
    # a checkpoint without a tokenizer beside it (and none in the cache)
    d = tmp_path / "models"
    save_tiny_internvideo2(d, CFG)
    for f in (d / "bert-large-uncased").iterdir():
        f.unlink()
    (d / "bert-large-uncased").rmdir()
    with pytest.raises(MissingWeightsError, match="bert-large-uncased.*save_pretrained"):
        load_vlm("internvideo2")  # default source: models/InternVideo2-stage2_1b-224p-f4.pt
    vocab = save_vocab(tmp_path / "tok")
    assert load_vlm("internvideo2", tokenizer=str(vocab)).dim == 512  # an explicit tokenizer folder
    (tmp_path / "cfg.json").write_text('{"vision_width": 32, "bogus": 1}')
    with pytest.raises(ValueError, match="unknown InternVideo2Config fields.*bogus"):
        load_vlm("internvideo2", tokenizer=str(vocab), config=str(tmp_path / "cfg.json"))


def test_a_config_that_does_not_fit_the_file_is_refused(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InternVideo2CheckpointError, match="missing keys: 'vision_encoder.blocks.2"):
        load_vlm("internvideo2", source=str(model_dir), config=InternVideo2Config.tiny(vision_depth=3))
    # a vocabulary smaller than the tokenizer's ids (not the bert-large-uncased tokenizer) is caught
    save_tiny_internvideo2(tmp_path, InternVideo2Config.tiny(vocab_size=8))
    small = load_vlm("internvideo2", source=str(tmp_path))
    with pytest.raises(ValueError, match="beyond the model's vocabulary of 8"):
        small.embed_text("robot")

"""IDM training: loss values, targets, windows, metrics, the chunked forward, the labeller, clipping,
checkpoints and an identical continuation after resuming."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from agents.checkpoints import CheckpointError
from agents.vpt.contractor import ContractorPair, ContractorWriter
from agents.vpt.idm import IDMNetwork
from agents.vpt.idm_training import (
    IDMLabeller,
    IDMTrainingConfig,
    evaluate_idm,
    idm_forward_chunked,
    idm_loss,
    idm_metrics,
    idm_targets,
    iter_idm_windows,
    shuffled_batches,
    split_pairs,
    train_idm,
)
from agents.vpt.io import load_pretrained
from agents.vpt.training_run import latest_checkpoint, load_checkpoint
from tests.support.contractor_data import write_pair, json_step
from tests.support.synthetic_vpt_data import write_synthetic_dataset
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture
from vpt_gym.actions import BUTTONS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# --------------------------------------------------------------------------------------------------
# Loss and targets
# --------------------------------------------------------------------------------------------------


def _logp(button_logits: torch.Tensor, camera_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"buttons": F.log_softmax(button_logits, -1), "camera": F.log_softmax(camera_logits, -1)}


def test_loss_of_uniform_heads_is_20_ln2_plus_2_ln11() -> None:
    logp = _logp(torch.zeros(2, 3, 20, 2), torch.zeros(2, 3, 2, 11))
    targets = {"buttons": torch.randint(0, 2, (2, 3, 20)), "camera": torch.randint(0, 11, (2, 3, 2))}
    loss, parts = idm_loss(logp, targets)
    assert loss.item() == pytest.approx(20 * math.log(2) + 2 * math.log(11), rel=1e-6)
    assert parts["button_nll"] == pytest.approx(20 * math.log(2), rel=1e-6)
    assert parts["camera_nll"] == pytest.approx(2 * math.log(11), rel=1e-6)


def test_loss_matches_independent_cross_entropies_with_mask() -> None:
    g = torch.Generator().manual_seed(0)
    bl, cl = torch.randn(2, 4, 20, 2, generator=g) * 3, torch.randn(2, 4, 2, 11, generator=g) * 3
    tb, tc = torch.randint(0, 2, (2, 4, 20), generator=g), torch.randint(0, 11, (2, 4, 2), generator=g)
    mask = torch.tensor([[True, True, False, True], [False, True, True, True]])
    loss, _ = idm_loss(_logp(bl, cl), {"buttons": tb, "camera": tc}, mask)
    # independent: numpy softmax cross-entropies per kept frame
    total = 0.0
    for b in range(2):
        for t in range(4):
            if not mask[b, t]:
                continue
            for logits, target in [(bl[b, t, i].numpy(), tb[b, t, i].item()) for i in range(20)] + [
                (cl[b, t, a].numpy(), tc[b, t, a].item()) for a in range(2)
            ]:
                logits = logits.astype(np.float64)
                total += np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[target]
    assert loss.item() == pytest.approx(total / int(mask.sum()), rel=1e-5)


def test_loss_rejects_bad_targets() -> None:
    logp = _logp(torch.zeros(1, 2, 20, 2), torch.zeros(1, 2, 2, 11))
    with pytest.raises(ValueError, match="camera targets must be in"):
        idm_loss(logp, {"buttons": torch.zeros(1, 2, 20, dtype=torch.long), "camera": torch.full((1, 2, 2), 11)})
    with pytest.raises(ValueError, match="buttons targets must have shape"):
        idm_loss(logp, {"buttons": torch.zeros(1, 2, 19, dtype=torch.long), "camera": torch.zeros(1, 2, 2).long()})


def test_targets_use_the_mu_law_bins_and_clip_large_angles() -> None:
    buttons = np.zeros((4, 20), np.int64)
    buttons[1, BUTTONS.index("attack")] = 1
    camera = np.array([[0.0, 3.0], [10.0, -0.75], [25.0, -40.0], [0.1, -0.3]])
    t = idm_targets(buttons, camera)
    assert t["camera"].tolist() == [[5, 8], [10, 4], [10, 0], [5, 4]]  # small angles are spread out by the mu-law
    assert t["buttons"][1, 0] == 1 and int(t["buttons"].sum()) == 1
    with pytest.raises(ValueError, match="0/1"):
        idm_targets(buttons + 2, camera)
    with pytest.raises(ValueError, match="camera must have shape"):
        idm_targets(buttons, camera[:, :1])


# --------------------------------------------------------------------------------------------------
# Windows and batches
# --------------------------------------------------------------------------------------------------


def _gray_pair(root: Path, name: str, n: int, base: int = 10) -> ContractorPair:
    """Uniform frames whose gray level encodes the frame index; camera yaw = index * 0.1 degrees."""
    with ContractorWriter(root / name) as writer:
        for t in range(n):
            writer.write(np.full((32, 32, 3), base + 8 * t, np.uint8), {"camera": [0.0, 0.1 * t], "attack": t % 2})
    return ContractorPair.of(root / f"{name}.mp4")


def test_windows_tile_each_video_with_an_end_aligned_tail(tmp_path: Path) -> None:
    pairs = [_gray_pair(tmp_path, "a", 30), _gray_pair(tmp_path, "b", 16, base=20), _gray_pair(tmp_path, "c", 5)]
    problems: list = []
    windows = list(iter_idm_windows(pairs, window=8, resolution=32, problems=problems, chunk_size=7))
    assert [(w.name, w.start) for w in windows] == [("a", 0), ("a", 8), ("a", 16), ("a", 22), ("b", 0), ("b", 8)]
    for w in windows:
        base = 10 if w.name == "a" else 20
        index = np.arange(w.start, w.start + 8)
        assert np.abs(w.frames.reshape(8, -1).mean(1) - (base + 8 * index)).max() < 4  # lossy video
        np.testing.assert_allclose(w.camera[:, 1], 0.1 * index, atol=1e-9)
        assert w.buttons[:, BUTTONS.index("attack")].tolist() == (index % 2).tolist()
    assert len(problems) == 1 and problems[0][0].name == "c" and "fewer than one window" in problems[0][1]
    shifted = list(iter_idm_windows(pairs[:2], window=8, resolution=32, chunk_size=5, offsets=[3, 7]))
    assert [(w.name, w.start) for w in shifted] == [("a", 3), ("a", 11), ("a", 19), ("a", 22), ("b", 7), ("b", 8)]
    assert np.abs(shifted[1].frames.reshape(8, -1).mean(1) - (10 + 8 * np.arange(11, 19))).max() < 4
    with pytest.raises(ValueError, match="one offset per pair"):
        list(iter_idm_windows(pairs, 8, 32, offsets=[0]))


def test_windows_skip_a_broken_pair_and_report_it(tmp_path: Path) -> None:
    good = _gray_pair(tmp_path, "good", 8)
    write_pair(tmp_path, "broken", [json_step(), "{not json"])
    problems: list = []
    windows = list(iter_idm_windows([ContractorPair.of(tmp_path / "broken.mp4"), good], 8, 32, problems))
    assert [w.name for w in windows] == ["good"]
    assert problems[0][0].name == "broken"


def test_shuffled_batches_are_deterministic_and_use_every_item_once() -> None:
    a = list(shuffled_batches(iter(range(23)), 4, 8, np.random.default_rng(3)))
    b = list(shuffled_batches(iter(range(23)), 4, 8, np.random.default_rng(3)))
    assert a == b
    assert sorted(x for batch in a for x in batch) == list(range(23))
    assert [len(batch) for batch in a][:-1] == [4] * (len(a) - 1)
    assert a != list(shuffled_batches(iter(range(23)), 4, 8, np.random.default_rng(4)))


def test_split_pairs_holds_out_whole_recordings() -> None:
    pairs = [ContractorPair.of(f"/x/v{i}.mp4") for i in range(10)]
    train, val = split_pairs(pairs, 0.2, seed=0)
    assert len(val) == 2 and len(train) == 8 and not set(train) & set(val)
    assert split_pairs(pairs, 0.2, seed=0) == (train, val)
    assert len(split_pairs(pairs[:2], 0.01, 0)[1]) == 1
    with pytest.raises(ValueError, match="val_fraction"):
        split_pairs(pairs, 1.0, 0)


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------


def test_metrics_on_hand_values() -> None:
    true_b = np.zeros((4, 20), np.int64)
    true_b[:2, 0] = 1  # attack pressed on frames 0, 1
    pred_b = true_b.copy()
    pred_b[0, 0] = 0  # one miss
    pred_b[3, 5] = 1  # one false press
    true_c = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [0.0, 30.0]])  # 30 -> clipped to 10
    pred_c = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 4.0], [0.0, 10.0]])
    m = idm_metrics(pred_b, pred_c, true_b, true_c)
    assert m.key_accuracy == pytest.approx(78 / 80)
    assert m.frame_key_accuracy == pytest.approx(2 / 4)
    assert m.per_button_accuracy["attack"] == pytest.approx(3 / 4)
    assert m.per_button_accuracy[BUTTONS[5]] == pytest.approx(3 / 4)
    # majority: attack pressed on 2 of 4 frames -> "released" is not a strict majority -> 0.5; others 1.0
    assert m.baseline_key_accuracy == pytest.approx((0.5 + 19) / 20)
    yaw = np.array([1.0, 2.0, 3.0, 10.0])
    expected_yaw = 1 - 1.0 / ((yaw - yaw.mean()) ** 2).sum()
    assert m.camera_r2_yaw == pytest.approx(expected_yaw)
    assert m.camera_r2 == pytest.approx(expected_yaw)  # pitch is constant 0 and exact: adds 0 to both sums
    assert math.isnan(m.camera_r2_pitch)
    assert m.n_frames == 4
    with pytest.raises(ValueError, match="no held-out frames"):
        idm_metrics(pred_b[:0], pred_c[:0], true_b[:0], true_c[:0])


# --------------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("frames_per_chunk", [1, 3, 16])
def test_chunked_forward_equals_the_full_forward(frames_per_chunk: int) -> None:
    torch.manual_seed(0)
    idm = IDMNetwork("tiny").eval()
    obs = torch.randint(0, 256, (2, 11, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        full, chunked = idm(obs), idm_forward_chunked(idm, obs, frames_per_chunk)
    for key in full:
        torch.testing.assert_close(chunked[key], full[key], atol=1e-5, rtol=1e-5)


def test_labeller_returns_all_20_buttons_and_bin_centre_cameras() -> None:
    torch.manual_seed(1)
    idm = IDMNetwork("tiny")
    labeller = IDMLabeller(idm)
    frames = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    labels = labeller(frames)
    assert set(labels) == set(BUTTONS) | {"camera"}
    logp = labeller.logp(frames)
    for i, name in enumerate(BUTTONS):
        assert labels[name].tolist() == logp["buttons"][:, i].argmax(-1).tolist()
    from vpt_gym.actions import CameraQuantizer

    np.testing.assert_array_equal(labels["camera"], CameraQuantizer().undiscretize(logp["camera"].argmax(-1).numpy()))
    with pytest.raises(ValueError, match=r"\(T, 32, 32, 3\) uint8"):
        labeller(frames[..., :2])
    with pytest.raises(ValueError, match="uint8"):
        labeller(frames.astype(np.float32))


def test_fast_labeller_agrees_with_float32_except_near_ties() -> None:
    torch.manual_seed(2)
    idm = IDMNetwork("tiny")
    reference = IDMLabeller(IDMNetwork("tiny"))
    reference.idm.load_state_dict(idm.state_dict())
    fast = IDMLabeller(idm, fast=True, frames_per_chunk=4)
    frames = np.random.default_rng(1).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    lp = reference.logp(frames)
    a, b = reference(frames), fast(frames)
    top2 = lp["buttons"].topk(2, dim=-1).values
    clear = (top2[..., 0] - top2[..., 1]).numpy() > 0.05
    for i, name in enumerate(BUTTONS):
        assert (a[name] == b[name])[clear[:, i]].all(), name
    cam2 = lp["camera"].topk(2, dim=-1).values
    clear_cam = (cam2[..., 0] - cam2[..., 1]).numpy() > 0.05
    assert (a["camera"] == b["camera"])[clear_cam].all()
    assert clear.mean() > 0.5  # the comparison is not vacuous


def test_float32_fast_labeller_matches_float32_to_the_last_bits() -> None:
    torch.manual_seed(3)
    idm = IDMNetwork("tiny")
    with torch.no_grad():  # heads x10: peaked outputs, so small differences would show
        for p in idm.pi_head.parameters():
            p.mul_(10.0)
    reference = IDMLabeller(IDMNetwork("tiny"))
    reference.idm.load_state_dict(idm.state_dict())
    fast = IDMLabeller(idm, fast=True, frames_per_chunk=4, fast_dtype="float32")
    assert type(fast.idm.net.img_process.cnn.stacks[0].firstconv.layer).__name__ == "PackedConv2d"
    frames = np.random.default_rng(1).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    ref, out = reference.logp(frames), fast.logp(frames)
    for k in ref:
        assert ref[k].dtype == out[k].dtype == torch.float32
        torch.testing.assert_close(out[k], ref[k], rtol=0, atol=1e-4)
    a, b = reference(frames), fast(frames)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="fast_dtype must be"):
        IDMLabeller(IDMNetwork("tiny"), fast=True, fast_dtype="float16")


# --------------------------------------------------------------------------------------------------
# Training runs
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("idm_data")
    write_synthetic_dataset(root, n_videos=3, n_frames=40, seed=5)
    return root


def _config(data: Path, out: Path, **kw) -> IDMTrainingConfig:
    base = dict(data=str(data), out_dir=str(out), model="tiny", window=16, batch_size=2, epochs=3, lr=1e-3,
                val_fraction=0.34, shuffle_buffer=4, progress=False, log_formats=("csv",), checkpoint_every=0)
    base.update(kw)
    return IDMTrainingConfig(**base)


def test_training_runs_saves_a_loadable_final_model_and_evaluates(synthetic_data: Path, tmp_path: Path) -> None:
    result = train_idm(_config(synthetic_data, tmp_path / "run", max_steps=4))
    assert result.steps == 4 and len(result.losses) == 4 and all(np.isfinite(result.losses))
    assert result.metrics is not None and result.metrics.n_frames == 40
    assert 0.0 <= result.metrics.key_accuracy <= 1.0
    loaded = load_pretrained(result.final_dir)
    for key, value in result.idm.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    assert (tmp_path / "run" / "logs" / "from-step-0" / "progress.csv").is_file()
    state, _ = load_checkpoint(latest_checkpoint(tmp_path / "run"), IDMNetwork("tiny"))
    assert state["step"] == 4 and state["config"]["window"] == 16


def test_gradient_clipping_limits_the_norm_the_optimizer_sees(
    synthetic_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    original = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    train_idm(_config(synthetic_data, tmp_path / "run", max_steps=2, max_grad_norm=0.01, val_fraction=0.0))
    assert len(seen) == 2 and all(n <= 0.01 * (1 + 1e-5) for n in seen)
    assert all(n > 0.001 for n in seen)  # clipped to the threshold, not vanished


def test_resume_continues_identically(synthetic_data: Path, tmp_path: Path) -> None:
    straight = train_idm(_config(synthetic_data, tmp_path / "a", max_steps=5, val_fraction=0.0))
    first = train_idm(_config(synthetic_data, tmp_path / "b", max_steps=3, val_fraction=0.0))
    resumed = train_idm(_config(synthetic_data, tmp_path / "b", max_steps=5, val_fraction=0.0))
    assert first.steps == 3 and resumed.steps == 5
    assert resumed.losses == straight.losses[3:]
    for key, value in straight.idm.state_dict().items():
        assert torch.equal(resumed.idm.state_dict()[key], value), key
    with pytest.raises(ValueError, match="cannot resume with different settings.*window: 16 -> 8"):
        train_idm(_config(synthetic_data, tmp_path / "b", max_steps=6, val_fraction=0.0, window=8))
    # without resume the run starts over
    again = train_idm(_config(synthetic_data, tmp_path / "b", max_steps=2, val_fraction=0.0, resume=False))
    assert again.losses == straight.losses[:2]


def test_corrupt_checkpoint_is_reported(synthetic_data: Path, tmp_path: Path) -> None:
    train_idm(_config(synthetic_data, tmp_path / "run", max_steps=1, val_fraction=0.0))
    ckpt = latest_checkpoint(tmp_path / "run")
    (ckpt / "optimizer.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="optimizer.safetensors"):
        train_idm(_config(synthetic_data, tmp_path / "run", max_steps=2, val_fraction=0.0))


def test_bad_settings_are_clear_errors(synthetic_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown IDM preset 'huge'"):
        train_idm(_config(synthetic_data, tmp_path / "r", model="huge"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_idm(_config(tmp_path / "nowhere", tmp_path / "r"))
    with pytest.raises(ValueError, match="unknown log formats"):
        train_idm(_config(synthetic_data, tmp_path / "r", log_formats=("xml",), max_steps=1))
    with pytest.raises(ValueError, match="no training windows of 64 frames.*fewer than one window"):
        train_idm(_config(synthetic_data, tmp_path / "r2", window=64, val_fraction=0.0))


def test_evaluate_idm_labels_every_frame_once(synthetic_data: Path) -> None:
    pairs = [ContractorPair.of(p) for p in sorted(synthetic_data.glob("*.mp4"))]
    metrics = evaluate_idm(IDMNetwork("tiny"), pairs, window=16)
    assert metrics.n_frames == 3 * 40

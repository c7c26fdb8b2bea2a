"""Behavioural cloning: the loss, the lane batches, BPTT through a chunk, gradient clipping, checkpoints
with an identical continuation, and fine-tuning from a pretrained policy."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from agents.vpt.bc import (
    BCConfig,
    bc_loss,
    detach_state,
    evaluate_bc,
    iter_bc_batches,
    train_bc,
    trainable_parameters,
)
from agents.vpt.contractor import ContractorPair, ContractorWriter
from agents.vpt.idm import IDMNetwork
from agents.vpt.io import save_pretrained
from agents.vpt.policy import VPTPolicyNet
from agents.vpt.training_run import latest_checkpoint
from tests.support.contractor_data import json_step, write_pair
from tests.support.synthetic_vpt_data import write_synthetic_dataset
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture
from vpt_gym.actions import env_to_agent

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# --------------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------------


def test_loss_of_uniform_heads_is_ln_8641_plus_ln_121() -> None:
    policy = VPTPolicyNet("tiny")
    logp = {"buttons": F.log_softmax(torch.zeros(2, 3, 8641), -1), "camera": F.log_softmax(torch.zeros(2, 3, 121), -1)}
    actions = torch.tensor([[[0, 60], [5, 3], [8640, 60]], [[17, 120], [1, 0], [2, 2]]])
    loss = bc_loss(policy, logp, actions, torch.ones(2, 3, dtype=torch.bool))
    assert loss.item() == pytest.approx(math.log(8641) + math.log(121), rel=1e-6)


def test_loss_matches_cross_entropy_over_unmasked_frames() -> None:
    policy = VPTPolicyNet("tiny")
    g = torch.Generator().manual_seed(0)
    bl, cl = torch.randn(2, 4, 8641, generator=g), torch.randn(2, 4, 121, generator=g)
    logp = {"buttons": F.log_softmax(bl, -1), "camera": F.log_softmax(cl, -1)}
    actions = torch.stack([torch.randint(0, 8641, (2, 4), generator=g), torch.randint(0, 121, (2, 4), generator=g)], -1)
    mask = torch.tensor([[True, False, True, True], [False, False, True, False]])
    keep = mask.reshape(-1)
    expected = F.cross_entropy(bl.reshape(-1, 8641)[keep], actions[..., 0].reshape(-1)[keep]) + F.cross_entropy(
        cl.reshape(-1, 121)[keep], actions[..., 1].reshape(-1)[keep]
    )
    assert bc_loss(policy, logp, actions, mask).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="camera actions must be in"):
        bc_loss(policy, logp, torch.where(actions == actions, 121, 121), mask)


def test_loss_uses_the_policy_temperature() -> None:
    from agents.vpt.config import POLICY_PRESETS
    import dataclasses

    torch.manual_seed(0)
    cold = VPTPolicyNet(dataclasses.replace(POLICY_PRESETS["tiny"], temperature=1.0))
    hot = VPTPolicyNet(dataclasses.replace(POLICY_PRESETS["tiny"], temperature=2.0))
    hot.load_state_dict(cold.state_dict())
    obs = torch.randint(0, 256, (1, 2, 32, 32, 3), dtype=torch.uint8)
    out_c, _ = cold(obs)
    out_h, _ = hot(obs)
    logits = cold.pi_head.buttons.linear_layer(out_c.latent)
    torch.testing.assert_close(out_h.logp["buttons"], F.log_softmax(logits / 2.0, -1), atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------------------------------
# Lanes
# --------------------------------------------------------------------------------------------------


def _pair(root: Path, name: str, n: int, hotbar_offset: int) -> ContractorPair:
    """Frames with gray level 10 + 8t; action at t presses hotbar.(1 + (t + offset) % 9) (never null)."""
    with ContractorWriter(root / name) as writer:
        for t in range(n):
            writer.write(np.full((32, 32, 3), 10 + 8 * t, np.uint8), {f"hotbar.{1 + (t + hotbar_offset) % 9}": 1})
    return ContractorPair.of(root / f"{name}.mp4")


def test_lanes_play_recordings_back_to_back_with_first_flags_and_padding(tmp_path: Path) -> None:
    a, b, c = _pair(tmp_path, "a", 10, 0), _pair(tmp_path, "b", 7, 3), _pair(tmp_path, "c", 5, 6)
    batches = list(iter_bc_batches([a, b, c], batch_size=2, chunk_len=4, resolution=32, drop_null="none", chunk_size=3))
    assert len(batches) == 3
    # expected (recording, step) per lane position; None = padding
    lane0 = [("a", t) for t in range(10)] + [None] * 2
    lane1 = [("b", t) for t in range(7)] + [("c", t) for t in range(5)]
    offsets = {"a": 0, "b": 3, "c": 6}
    for lane, expected in enumerate([lane0, lane1]):
        for k, want in enumerate(expected):
            batch, t = batches[k // 4], k % 4
            assert batch.mask[lane, t] == (want is not None)
            if want is None:
                continue
            name, step = want
            assert batch.first[lane, t] == (step == 0)
            level = batch.frames[lane, t].mean()
            assert abs(level - (10 + 8 * step)) < 4, (lane, k, level)
            action = env_to_agent({f"hotbar.{1 + (step + offsets[name]) % 9}": 1})
            assert batch.actions[lane, t].tolist() == action.tolist()


def test_lanes_skip_and_report_a_broken_recording(tmp_path: Path) -> None:
    good = _pair(tmp_path, "good", 6, 0)
    write_pair(tmp_path, "broken", [json_step(keys=["key.keyboard.w"]), "{oops"])
    problems: list = []
    batches = list(iter_bc_batches([ContractorPair.of(tmp_path / "broken.mp4"), good], 1, 4, 32, "none", problems))
    assert int(sum(b.mask.sum() for b in batches)) == 6
    assert len(problems) == 1 and problems[0][0].name == "broken"


def test_null_steps_are_dropped_by_default(tmp_path: Path) -> None:
    with ContractorWriter(tmp_path / "n") as writer:
        for t in range(8):
            writer.write(np.zeros((32, 32, 3), np.uint8), {"forward": 1} if t % 2 else {})
    batches = list(iter_bc_batches([ContractorPair.of(tmp_path / "n.mp4")], 1, 8, 32))
    assert int(batches[0].mask.sum()) == 4


# --------------------------------------------------------------------------------------------------
# BPTT and memory
# --------------------------------------------------------------------------------------------------


def _feature_grads(policy: VPTPolicyNet, first: torch.Tensor, loss_frame: int, state=None) -> torch.Tensor:
    """|d loss(frame loss_frame) / d CNN features| per frame of a (1, T) chunk."""
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["x"] = output

    handle = policy.net.img_process.register_forward_hook(keep)
    obs = torch.randint(0, 256, (1, first.shape[1], 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out, new_state = policy(obs, first, state)
    handle.remove()
    mask = torch.zeros_like(first)
    mask[0, loss_frame] = True
    bc_loss(policy, out.logp, torch.zeros(1, first.shape[1], 2, dtype=torch.long), mask).backward()
    return captured["x"].grad.abs().sum(-1), new_state  # (B*T, H) features, B = 1


def test_gradients_reach_earlier_frames_of_the_chunk_and_not_later_ones() -> None:
    torch.manual_seed(0)
    policy = VPTPolicyNet("tiny")
    grads, _ = _feature_grads(policy, torch.zeros(1, 8, dtype=torch.bool), loss_frame=5)
    assert (grads[:6] > 0).all(), grads  # BPTT: frames 0..5 influence the loss at frame 5
    assert (grads[6:] == 0).all(), grads  # causal: later frames do not


def test_episode_start_inside_a_chunk_cuts_the_gradient() -> None:
    torch.manual_seed(0)
    policy = VPTPolicyNet("tiny")
    first = torch.zeros(1, 8, dtype=torch.bool)
    first[0, 4] = True
    grads, _ = _feature_grads(policy, first, loss_frame=6)
    assert (grads[:4] == 0).all() and (grads[4:7] > 0).all(), grads


def test_memory_is_carried_but_detached_between_chunks() -> None:
    torch.manual_seed(0)
    policy = VPTPolicyNet("tiny")
    _, state = _feature_grads(policy, torch.zeros(1, 4, dtype=torch.bool), loss_frame=3)
    assert any(t.grad_fn is not None for layer in state for t in layer)
    detached = detach_state(state)
    assert all(t.grad_fn is None for layer in detached for t in layer)
    assert bool(detached[0][0].any())  # the cache holds valid frames
    # the carried memory changes the next chunk's output (it is used)
    obs = torch.randint(0, 256, (1, 2, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        with_memory, _ = policy(obs, torch.zeros(1, 2, dtype=torch.bool), detached)
        without, _ = policy(obs, torch.zeros(1, 2, dtype=torch.bool))
    assert not torch.allclose(with_memory.logp["camera"], without.logp["camera"])


# --------------------------------------------------------------------------------------------------
# Training runs
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bc_data")
    write_synthetic_dataset(root, n_videos=3, n_frames=24, seed=7)
    return root


def _config(data: Path, out: Path, **kw) -> BCConfig:
    base = dict(data=str(data), out_dir=str(out), policy="tiny", batch_size=2, chunk_len=4, epochs=3, lr=1e-3,
                progress=False, log_formats=("csv",), checkpoint_every=0, log_every=1)
    base.update(kw)
    return BCConfig(**base)


def test_defaults_are_the_reference_hyper_parameters() -> None:
    config = BCConfig(data="d", out_dir="o")
    assert (config.lr, config.weight_decay, config.max_grad_norm) == (0.000181, 0.039428, 5.0)
    assert (config.batch_size, config.epochs) == (8, 2)


def test_trainable_parameters_is_a_reusable_list() -> None:
    params = trainable_parameters(VPTPolicyNet("tiny"))
    assert isinstance(params, list) and len(params) == len(list(params)) > 0
    assert all(p.requires_grad for p in params)


def test_gradient_clipping_limits_the_norm_the_optimizer_sees(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    original = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    train_bc(_config(data, tmp_path / "run", max_steps=3, max_grad_norm=0.05))
    assert len(seen) == 3 and all(0.04 < n <= 0.05 * (1 + 1e-5) for n in seen), seen
    logged = (tmp_path / "run" / "logs" / "from-step-0" / "progress.csv").read_text().splitlines()
    column = logged[0].split(",").index("train/grad_norm")
    assert all(float(line.split(",")[column]) > 0.05 for line in logged[1:] if line.split(",")[column])


def test_training_lowers_the_loss_and_saves_a_loadable_policy(data: Path, tmp_path: Path) -> None:
    result = train_bc(_config(data, tmp_path / "run", max_steps=12, val_data=str(data)))
    assert result.steps == 12
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3]) - 0.5
    assert result.val_loss is not None and np.isfinite(result.val_loss)
    reloaded = VPTPolicyNet.from_pretrained(str(result.final_dir))
    pairs = [ContractorPair.of(p) for p in sorted(data.glob("*.mp4"))]
    assert evaluate_bc(reloaded, pairs, 2, 4) == pytest.approx(result.val_loss, rel=1e-5)


def test_resume_continues_identically_with_the_memory(data: Path, tmp_path: Path) -> None:
    straight = train_bc(_config(data, tmp_path / "a", max_steps=6))
    first = train_bc(_config(data, tmp_path / "b", max_steps=3))
    ckpt = latest_checkpoint(tmp_path / "b")
    from agents.checkpoints import load_safetensors

    memory = load_safetensors(ckpt / "extra.safetensors")
    assert memory["memory.0.0"].any()  # mid-recording: the lanes' memory is saved
    resumed = train_bc(_config(data, tmp_path / "b", max_steps=6))
    assert first.steps == 3 and resumed.steps == 6
    assert resumed.losses == straight.losses[3:]
    for key, value in straight.policy.state_dict().items():
        assert torch.equal(resumed.policy.state_dict()[key], value), key
    with pytest.raises(ValueError, match="cannot resume with different settings.*batch_size: 2 -> 3"):
        train_bc(_config(data, tmp_path / "b", max_steps=8, batch_size=3))


def test_fine_tuning_starts_from_the_pretrained_weights(data: Path, tmp_path: Path) -> None:
    torch.manual_seed(123)
    pretrained = VPTPolicyNet("tiny")
    save_pretrained(pretrained, tmp_path / "pre")
    # lr 0: AdamW changes nothing, so the result is exactly the starting point
    result = train_bc(_config(data, tmp_path / "ft", init_from=str(tmp_path / "pre"), policy="1x", max_steps=1, lr=0.0))
    for key, value in pretrained.state_dict().items():
        assert torch.equal(result.policy.state_dict()[key], value), key
    save_pretrained(IDMNetwork("tiny"), tmp_path / "idm")
    with pytest.raises(ValueError, match="not a VPT policy"):
        train_bc(_config(data, tmp_path / "ft2", init_from=str(tmp_path / "idm")))


def test_bad_settings_are_clear_errors(data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown VPT policy preset '9x'"):
        train_bc(_config(data, tmp_path / "r", policy="9x"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_bc(_config(tmp_path / "nowhere", tmp_path / "r"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no labelled pairs"):
        train_bc(_config(empty, tmp_path / "r"))
    write_pair(empty, "broken", [json_step(), "{oops"])
    with pytest.raises(ValueError, match="no training steps.*broken"):
        train_bc(_config(empty, tmp_path / "r3"))

"""Training-run checkpoints: atomic layout, the latest pointer, pruning, exact optimizer round trips."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agents.checkpoints import CheckpointError
from agents.vpt.idm import IDMNetwork
from agents.vpt.io import load_pretrained
from agents.vpt.policy import VPTPolicyNet
from agents.vpt.training_run import check_resumable, latest_checkpoint, load_checkpoint, prefetch, save_checkpoint


def _stepped(net: torch.nn.Module) -> torch.optim.AdamW:
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    out = net(torch.zeros(1, 2, 32, 32, 3, dtype=torch.uint8))
    sum(v.sum() for v in out.values()).backward()
    opt.step()
    return opt


def test_round_trip_restores_model_optimizer_extra_tensors_and_rng(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = IDMNetwork("tiny")
    opt = _stepped(net)
    memory = torch.arange(6.0).reshape(2, 3)
    rng_before = torch.get_rng_state()
    path = save_checkpoint(tmp_path, net, opt, {"step": 7, "epoch": 1}, {"memory.0": memory})
    expected_next = torch.rand(3)
    assert path.name == "step-000000007" and latest_checkpoint(tmp_path) == path
    assert isinstance(load_pretrained(path), IDMNetwork)  # a checkpoint is a pretrained directory
    fresh = IDMNetwork("tiny")
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    torch.set_rng_state(rng_before)
    torch.rand(5)  # move the RNG; loading puts it back
    state, extra = load_checkpoint(path, fresh, fresh_opt)
    assert state == {"step": 7, "epoch": 1}
    assert torch.equal(extra["memory.0"], memory)
    assert torch.equal(torch.rand(3), expected_next)
    for key, value in net.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)
    a, b = opt.state_dict(), fresh_opt.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for pid, entry in a["state"].items():
        for name, value in entry.items():
            assert torch.equal(b["state"][pid][name], value)


def test_a_run_that_has_not_stepped_can_be_saved(tmp_path: Path) -> None:
    net = IDMNetwork("tiny")
    path = save_checkpoint(tmp_path, net, torch.optim.AdamW(net.parameters()), {"step": 0})
    state, _ = load_checkpoint(path, IDMNetwork("tiny"), torch.optim.AdamW(IDMNetwork("tiny").parameters()))
    assert state["step"] == 0


def test_old_checkpoints_are_pruned_and_latest_follows(tmp_path: Path) -> None:
    net = IDMNetwork("tiny")
    opt = torch.optim.AdamW(net.parameters())
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, net, opt, {"step": step}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir())
    assert names == ["step-000000002", "step-000000003"]
    assert latest_checkpoint(tmp_path).name == "step-000000003"
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    assert latest_checkpoint(tmp_path / "elsewhere") is None


def test_mismatches_are_clear_errors(tmp_path: Path) -> None:
    net = IDMNetwork("tiny")
    path = save_checkpoint(tmp_path, net, _stepped(net), {"step": 1})
    policy = VPTPolicyNet("tiny")
    with pytest.raises(CheckpointError, match="differs from the model"):
        load_checkpoint(path, policy)
    frozen = IDMNetwork("tiny")
    params = list(frozen.parameters())[:3]
    with pytest.raises(CheckpointError, match="parameter groups do not match"):
        load_checkpoint(path, frozen, torch.optim.AdamW(params))
    (path / "trainer_state.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt JSON"):
        load_checkpoint(path, IDMNetwork("tiny"))
    (tmp_path / "checkpoints" / "latest").write_text("step-000000099\n")
    with pytest.warns(UserWarning, match="points at 'step-000000099', which does not exist.*step-000000001"):
        assert latest_checkpoint(tmp_path) == path


def test_check_resumable_names_the_changed_settings() -> None:
    check_resumable("ckpt", {"seed": 1, "window": 8}, {"seed": 1, "window": 8, "lr": 3}, ("seed", "window"))
    with pytest.raises(ValueError, match="seed: 1 -> 2"):
        check_resumable("ckpt", {"seed": 1}, {"seed": 2}, ("seed",))


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_prefetch_keeps_the_order_and_raises_the_producers_error(depth: int) -> None:
    assert list(prefetch(iter(range(20)), depth)) == list(range(20))

    def broken():
        yield 1
        raise RuntimeError("decoder failed")

    got = []
    with pytest.raises(RuntimeError, match="decoder failed"):
        for item in prefetch(broken(), depth):
            got.append(item)
    assert got == [1]


def test_prefetch_stops_its_thread_when_the_consumer_stops() -> None:
    import threading

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = prefetch(endless(), 2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert not [t for t in threading.enumerate() if t.name == "vpt-prefetch"]
    assert len(produced) <= 3 + 2 + 1

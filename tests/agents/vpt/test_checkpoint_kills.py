"""A VPT training run survives a SIGKILL at every step of a checkpoint write: the resumed run ends with
weights bit-identical to an uninterrupted run's, ``latest`` is never dangling, and the next run removes
what the killed save left.

Each kill is a real ``SIGKILL`` the (forked) child sends itself at the k-th call of one of the operations
a save is made of (``mkdir``, ``rename``, ``replace``, ``fsync``, ``rmtree``), for k = 1, 2, ... until a
run completes without reaching k: every point of every save of the run is hit once.
"""
from __future__ import annotations

import os
import shutil
import signal
import warnings
from pathlib import Path

import pytest
import torch

from agents.vpt.idm_training import IDMTrainingConfig, train_idm
from agents.vpt.training_run import latest_checkpoint, load_checkpoint, save_checkpoint
from agents.vpt.idm import IDMNetwork
from tests.support.synthetic_vpt_data import write_synthetic_dataset
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child"),
]

_OPERATIONS = (
    (os, "mkdir"),
    (os, "rename"),
    (os, "replace"),
    (os, "fsync"),
    (shutil, "rmtree"),
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kill_data")
    write_synthetic_dataset(root, n_videos=2, n_frames=40, seed=3)
    return root


def _config(data: Path, out: Path) -> IDMTrainingConfig:
    # 4 updates, a periodic checkpoint at 2 and 4, then the final save of step 4 again (the same step
    # saved twice); val_fraction=0 and no prefetch thread keep the forked child simple
    return IDMTrainingConfig(data=str(data), out_dir=str(out), model="tiny", window=16, batch_size=2, epochs=3,
                             lr=1e-3, val_fraction=0.0, shuffle_buffer=4, progress=False, log_formats=("csv",),
                             checkpoint_every=2, max_steps=4, prefetch=0)  # fmt: skip


def _run_killed_at(k: int, run: callable) -> bool:
    """Run ``run()`` in a forked child that SIGKILLs itself at the k-th save operation. True when it was
    killed, False when it finished first (k is past the last operation)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            calls = [0]
            for module, name in _OPERATIONS:
                real = getattr(module, name)

                def counted(*args, _real=real, **kwargs):
                    calls[0] += 1
                    if calls[0] == k:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return _real(*args, **kwargs)

                setattr(module, name, counted)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run()
        except BaseException:  # noqa: BLE001 - any error in the child is a test failure, reported by rc
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, f"the child failed (rc {os.WEXITSTATUS(status)}) at kill point {k}"
    return False


def _assert_resumes_to(reference: dict[str, torch.Tensor], data: Path, out: Path, k: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fallback warning is fine; a wrong resume is not
        resumed = train_idm(_config(data, out))
    assert resumed.steps == 4
    for key, value in reference.items():
        assert torch.equal(resumed.idm.state_dict()[key], value), f"kill point {k}: {key} differs"
    root = out / "checkpoints"
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")], f"kill point {k}: leftovers"
    state, _ = load_checkpoint(latest_checkpoint(out), IDMNetwork("tiny"))
    assert state["step"] == 4


def _sweep(data: Path, tmp_path: Path, finished_first: bool, stride: int) -> int:
    """Kill at points 1, 1 + stride, ... until a run completes first; resume after each. Returns the kills."""
    reference = train_idm(_config(data, tmp_path / "straight")).idm.state_dict()
    finished = tmp_path / "finished"
    if finished_first:
        train_idm(_config(data, finished))
    killed = 0
    for k in range(1, 400, stride):
        out = tmp_path / f"k{k}"
        if finished_first:
            shutil.copytree(finished, out)
        if not _run_killed_at(k, lambda: train_idm(_config(data, out))):
            break
        killed += 1
        # between the kill and the resume, `latest` names a complete checkpoint (or is absent before
        # the first one): the fallback for a dangling pointer is never needed
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ckpt = latest_checkpoint(out)
        if finished_first:
            assert ckpt is not None
        _assert_resumes_to(reference, data, out, k)
        shutil.rmtree(out)
    print(f"killed {killed} times (stride {stride}), every resume bit-identical")
    return killed


def test_kills_spread_over_a_run_resume_bit_identically(data: Path, tmp_path: Path) -> None:
    assert _sweep(data, tmp_path, finished_first=False, stride=11) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("finished_first", [False, True], ids=["fresh-run", "rerun-of-a-finished-run"])
def test_a_kill_at_every_point_of_every_save_resumes_bit_identically(
    data: Path, tmp_path: Path, finished_first: bool
) -> None:
    # a fresh run saves step 2, step 4, step 4 again and the final model (62 points); a rerun of the
    # finished run saves step 4 again and the final model (32 points)
    assert _sweep(data, tmp_path, finished_first, stride=1) >= (20 if finished_first else 50)


def test_latest_falls_back_to_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    net = IDMNetwork("tiny")
    opt = torch.optim.AdamW(net.parameters())
    save_checkpoint(tmp_path, net, opt, {"step": 1}, keep=3)
    save_checkpoint(tmp_path, net, opt, {"step": 2}, keep=3)
    root = tmp_path / "checkpoints"
    shutil.rmtree(root / "step-000000002")  # what an older version's kill could leave
    with pytest.warns(UserWarning, match="points at 'step-000000002'.*newest complete checkpoint, step-000000001"):
        assert latest_checkpoint(tmp_path) == root / "step-000000001"
    (root / "latest").unlink()  # a kill between the first checkpoint and its pointer: not an anomaly
    assert latest_checkpoint(tmp_path) == root / "step-000000001"
    (root / "step-000000001" / "trainer_state.json").unlink()  # incomplete: nothing to resume from
    from agents.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="no 'latest' pointer, and the run has no other complete"):
        latest_checkpoint(tmp_path)


def test_saving_a_step_again_swaps_the_pointer_before_deleting_the_old_one(tmp_path: Path) -> None:
    net = IDMNetwork("tiny")
    opt = torch.optim.AdamW(net.parameters())
    first = save_checkpoint(tmp_path, net, opt, {"step": 5})
    second = save_checkpoint(tmp_path, net, opt, {"step": 5, "final": True})
    assert first.name == "step-000000005" and second.name == "step-000000005.1"
    assert latest_checkpoint(tmp_path) == second and not first.exists()
    third = save_checkpoint(tmp_path, net, opt, {"step": 5})
    assert third.name == "step-000000005" and not second.exists()
    # a killed save's temporary directory and a half-deleted checkpoint are removed by the next save
    (tmp_path / "checkpoints" / ".tmp-step-000000006-123").mkdir()
    (tmp_path / "checkpoints" / ".old-step-000000004-123").mkdir()
    save_checkpoint(tmp_path, net, opt, {"step": 6})
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step-000000005", "step-000000006"]

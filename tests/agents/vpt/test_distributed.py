"""Data-parallel IDM training and BC (agents.vpt.distributed): two gloo processes on the CPU give the run
one process gives with the same data shards, and a run resumes with another number of processes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agents.checkpoints import load_json, load_safetensors
from agents.vpt.distributed import deal, distributed_context, resolve_shards, shard_range
from agents.vpt.training_run import latest_checkpoint
from tests.support.distributed_runs import run, spawn, write_uneven_dataset
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Where resumed runs stop first (mid-epoch: the BC lanes hold memory there).
PARTIAL = 5


def test_shards_are_dealt_round_robin_in_blocks_per_rank() -> None:
    assert deal(list("abcde"), 2) == [["a", "c", "e"], ["b", "d"]]
    assert [list(shard_range(r, 2, 4)) for r in range(2)] == [[0, 1], [2, 3]]
    assert resolve_shards(None, None, world_size=2, batch_size=4) == 2  # default: the number of processes
    assert resolve_shards(None, 4, world_size=1, batch_size=8) == 4  # resuming keeps the run's shards
    with pytest.raises(ValueError, match=r"data_shards \(3\) must be a multiple of the number of processes \(2\)"):
        resolve_shards(3, None, world_size=2, batch_size=6)
    with pytest.raises(ValueError, match=r"batch_size \(6.*multiple of data_shards \(4\)"):
        resolve_shards(4, None, world_size=1, batch_size=6)
    with pytest.raises(ValueError, match=r"data_shards \(1, the value of the run being resumed\).*--data-shards"):
        resolve_shards(None, 1, world_size=2, batch_size=4)  # a one-shard run cannot be split over 2 processes


def test_training_settings_that_cannot_shard_are_clear_errors(tmp_path: Path) -> None:
    data = write_uneven_dataset(tmp_path / "data")
    with pytest.raises(ValueError, match=r"shuffle_buffer \(1\) must be >= batch_size \(2\)"):
        run("idm", data, tmp_path / "idm", shuffle_buffer=1)
    with pytest.raises(ValueError, match=r"batch_size \(3, the global batch\) must be a multiple of data_shards \(2\)"):
        run("bc", data, tmp_path / "bc", batch_size=3)


def test_one_process_context_communicates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with distributed_context("cpu") as ctx:
        assert (ctx.rank, ctx.world_size, ctx.distributed) == (0, 1, False)
        assert ctx.sum([1.5, 2.0]) == [1.5, 2.0] and ctx.gather_objects("x") == ["x"]
        net = torch.nn.Linear(2, 2)
        assert ctx.wrap(net) is net
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(RuntimeError, match="start distributed runs with torchrun"):
        with distributed_context("cpu"):
            pass


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every run of this module: one-process runs here, two-process runs in one spawned gloo group."""
    root = tmp_path_factory.mktemp("ddp")
    data = write_uneven_dataset(root / "data")
    out: dict = {"root": root, "data": data}
    for kind in ("idm", "bc"):
        out[f"{kind}-1"] = run(kind, data, root / f"{kind}-1")  # data_shards=2, one process
        run(kind, data, root / f"{kind}-1to2", max_steps=PARTIAL)  # started with 1, resumed with 2 below
    jobs = []
    for kind in ("idm", "bc"):
        jobs += [
            dict(kind=kind, data=data, out=root / f"{kind}-2"),
            dict(kind=kind, data=data, out=root / f"{kind}-2to1", max_steps=PARTIAL),
            dict(kind=kind, data=data, out=root / f"{kind}-1to2"),
        ]
    results = spawn(2, jobs, root / "spawn")
    for job, ranks in zip(jobs, results):
        out[Path(job["out"]).name] = ranks
    for kind in ("idm", "bc"):
        out[f"{kind}-2to1-checkpoint"] = latest_checkpoint(root / f"{kind}-2to1")
        out[f"{kind}-2to1"] = run(kind, data, root / f"{kind}-2to1")  # resumed in one process
    return out


def _assert_same_run(losses: list[float], state: dict, ref_losses: list[float], ref_state: dict) -> None:
    assert len(losses) == len(ref_losses)
    # float summation order differs (two halves, then an all_reduce); Adam's normalised steps amplify
    # differences of near-zero gradients to ~1e-5 after a dozen steps (a missed gradient average gives ~1e-2)
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(ref_losses), rtol=1e-5, atol=1e-5)
    for key, value in ref_state.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=1e-4, msg=key)


@pytest.mark.parametrize("kind", ["idm", "bc"])
def test_two_processes_equal_one_process_with_the_same_shards(runs: dict, kind: str) -> None:
    ref_losses, ref_state, _ = runs[f"{kind}-1"]
    assert len(ref_losses) > PARTIAL + 2  # two full epochs; the shards run out at different steps
    rank0, rank1 = runs[f"{kind}-2"]
    assert rank0["losses"] == rank1["losses"]  # every rank reports the global loss
    for key, value in rank0["state"].items():  # the gradients were averaged: identical weights on both ranks
        assert torch.equal(rank1["state"][key], value), key
    _assert_same_run(rank0["losses"], rank0["state"], ref_losses, ref_state)


@pytest.mark.parametrize("kind", ["idm", "bc"])
def test_a_run_resumes_with_another_number_of_processes(runs: dict, kind: str) -> None:
    ref_losses, ref_state, _ = runs[f"{kind}-1"]
    rank0 = runs[f"{kind}-1to2"][0]  # 1 process for PARTIAL steps, then 2
    _assert_same_run(rank0["losses"], rank0["state"], ref_losses[PARTIAL:], ref_state)
    losses, state, _ = runs[f"{kind}-2to1"]  # 2 processes for PARTIAL steps, then 1
    _assert_same_run(losses, state, ref_losses[PARTIAL:], ref_state)


def test_rank0_checkpoint_holds_every_lanes_memory(runs: dict) -> None:
    ckpt = runs["bc-2to1-checkpoint"]  # written by the two-process run at step PARTIAL
    state = load_json(ckpt / "trainer_state.json")
    assert state["step"] == PARTIAL and state["config"]["data_shards"] == 2
    memory = load_safetensors(ckpt / "extra.safetensors")
    valid = memory["memory.0.0"]  # (lanes, maxlen) validity of the key/value cache
    assert valid.shape[0] == 2 and valid[0].any() and valid[1].any()  # both ranks' lanes, gathered
    root = runs["root"] / "bc-2"
    assert sorted(p.name for p in (root / "checkpoints").iterdir()) == ["latest", "step-000000013"]
    assert sorted(p.name for p in (root / "logs").iterdir()) == ["from-step-0"]


@pytest.mark.slow  # ~10-15 s; the README's torchrun example runs the same path in the default suite
def test_torchrun_runs_the_cli_on_two_processes(runs: dict, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "vpt_gym.cli", "idm", "train", str(runs["data"]), str(tmp_path / "run"), "--model", "tiny",
               "--window", "8", "--batch-size", "2", "--shuffle-buffer", "4", "--val-fraction", "0",
               "--max-steps", "3", "--log-formats", "csv", "--no-progress"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count('"steps": 3') == 1  # rank 0 alone prints the result
    state = load_json(latest_checkpoint(tmp_path / "run") / "trainer_state.json")
    assert state["step"] == 3 and state["config"]["data_shards"] == 2  # default: one shard per process
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


def test_module_docstring_example_runs() -> None:
    import doctest

    import agents.vpt.distributed as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0

"""Data-parallel training runs for the tests: tiny IDM / BC configs and a worker that runs them in a
gloo process group started with ``torch.multiprocessing.spawn`` (CPU only, nothing from the environment).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from tests.support.synthetic_vpt_data import write_synthetic_pair

#: Recordings of different lengths, so the shards run out at different steps.
LENGTHS = (24, 12, 32, 20)


def write_uneven_dataset(root: Path) -> Path:
    """Four synthetic contractor pairs of :data:`LENGTHS` frames under ``root``."""
    for i, n in enumerate(LENGTHS):
        write_synthetic_pair(root, f"video{i:02d}", n, seed=300 + i)
    return root


def idm_config(data: Path, out: Path, **kw: Any):
    from agents.vpt.idm_training import IDMTrainingConfig

    base = dict(data=str(data), out_dir=str(out), model="tiny", window=8, batch_size=2, epochs=2, lr=1e-3,
                val_fraction=0.0, shuffle_buffer=4, progress=False, log_formats=("csv",), checkpoint_every=0,
                data_shards=2, prefetch=0)  # fmt: skip
    base.update(kw)
    return IDMTrainingConfig(**base)


def bc_config(data: Path, out: Path, **kw: Any):
    from agents.vpt.bc import BCConfig

    base = dict(data=str(data), out_dir=str(out), policy="tiny", batch_size=2, chunk_len=8, epochs=2, lr=1e-3,
                progress=False, log_formats=("csv",), checkpoint_every=0, log_every=1, data_shards=2, prefetch=0)
    base.update(kw)
    return BCConfig(**base)


def run(kind: str, data: Path, out: Path, **kw: Any) -> tuple[list[float], dict[str, torch.Tensor], list]:
    """One run; returns ``(losses, state_dict, problems)``."""
    if kind == "idm":
        from agents.vpt.idm_training import train_idm

        result = train_idm(idm_config(data, out, **kw))
        return result.losses, result.idm.state_dict(), result.problems
    from agents.vpt.bc import train_bc

    result = train_bc(bc_config(data, out, **kw))
    return result.losses, result.policy.state_dict(), result.problems


def worker(rank: int, world_size: int, rendezvous: str, jobs: list[dict[str, Any]], results: str) -> None:
    """Run ``jobs`` (``{"kind", "data", "out", **settings}``) one after another in a gloo group; every rank
    writes ``<results>/<job index>-rank<rank>.pt`` (losses and weights)."""
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size)
    try:
        for i, job in enumerate(jobs):
            job = dict(job)
            losses, state, problems = run(job.pop("kind"), Path(job.pop("data")), Path(job.pop("out")), **job)
            torch.save({"losses": losses, "state": state, "problems": len(problems)},
                       Path(results) / f"{i}-rank{rank}.pt")  # fmt: skip
    finally:
        torch.distributed.destroy_process_group()


def spawn(world_size: int, jobs: list[dict[str, Any]], scratch: Path) -> list[list[dict[str, Any]]]:
    """Run ``jobs`` in ``world_size`` spawned processes; returns, per job, every rank's result."""
    import torch.multiprocessing as mp

    scratch.mkdir(parents=True, exist_ok=True)
    jobs = [{k: str(v) if isinstance(v, Path) else v for k, v in job.items()} for job in jobs]
    (scratch / "jobs.json").write_text(json.dumps(jobs))
    mp.spawn(worker, args=(world_size, str(scratch / "rendezvous"), jobs, str(scratch)), nprocs=world_size)
    return [
        [torch.load(scratch / f"{i}-rank{r}.pt", weights_only=True) for r in range(world_size)] for i in range(len(jobs))
    ]

"""Data-parallel VPT training (IDM training and BC) with ``torch.distributed``: who this process is, how
the data is sharded, and the few collectives the training loops need.

A run started with ``torchrun --nproc_per_node N`` (or any launcher that sets ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``) joins a process group (NCCL on CUDA, gloo on the CPU)
and wraps the network in :class:`torch.nn.parallel.DistributedDataParallel`. A process group that the
caller initialised already is used as it is. Without either, a run is one process and nothing here
communicates.

**Data shards.** The recordings of an epoch (shuffled with the run's seed) are dealt to ``S`` data
shards (``order[s::S]``); each shard is read by exactly one rank, which owns shards
``[r * S / N, (r + 1) * S / N)``, and each shard contributes ``batch_size / S`` items (IDM windows, BC
lanes) to every global batch. ``S`` is a setting of the run, not the number of processes: the global
batch of a step is the same for any ``N`` that divides ``S``, so a 2-process run equals a 1-process run
with the same ``S`` (up to float summation order), and a run resumes with another ``N``. ``S = 1`` (the
default of a one-process run) is the original single-stream data order.

**Loss weighting.** Shards run out at different times, so ranks may hold different numbers of frames.
Each rank's loss is its frames' summed loss divided by the global frame count (one ``all_reduce``),
times ``N`` because DDP averages gradients over ranks: the averaged gradient is then exactly the
gradient of the mean over the global batch. A rank whose shards are exhausted while others still have
data runs a zero-weight step, so DDP's collectives stay matched; the epoch ends when no rank has data.

Example (one process: nothing is initialised)::

    >>> from agents.vpt.distributed import distributed_context, shard_range
    >>> with distributed_context("cpu") as ctx:
    ...     (ctx.rank, ctx.world_size, ctx.is_main)
    (0, 1, True)
    >>> shard_range(rank=1, world_size=2, n_shards=4)
    range(2, 4)
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

__all__ = ["DistributedContext", "distributed_context", "resolve_shards", "shard_range", "deal"]

T = TypeVar("T")


@dataclass
class DistributedContext:
    """This process's place in the run.

    :param rank: global rank (0 writes checkpoints, logs and the final model).
    :param world_size: number of processes N. :param local_rank: rank on this host (picks the GPU).
    :param device: the torch device this process trains on.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when there is more than one process."""
        return self.world_size > 1

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` (rank 0's weights are
        broadcast to every rank), or ``model`` itself in a one-process run."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # static_graph: the same parameters take part in every step, and a few never do (e.g. the IDM's
        # unused relative-position layers, the policy's value head under BC), which DDP then tolerates
        return DistributedDataParallel(model, device_ids=ids, static_graph=True)

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over ranks (float64), e.g. frame counts and weighted losses."""
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self._comm_device)
        if self.distributed:
            torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        """Wait for every rank (a no-op in a one-process run)."""
        if self.distributed:
            torch.distributed.barrier()

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable; sent only between this run's own processes), in rank order."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather_batch(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's ``tensor`` (same shape on every rank) concatenated along dim 0 in rank order."""
        if not self.distributed:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @property
    def _comm_device(self) -> torch.device:
        # NCCL communicates CUDA tensors only; gloo CPU ones
        return self.device if self.distributed and self.device.type == "cuda" else torch.device("cpu")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value[:40]!r} is not an integer") from None


@contextlib.contextmanager
def distributed_context(device: str | torch.device = "cpu") -> Iterator[DistributedContext]:
    """This process's :class:`DistributedContext` for the duration of a run.

    Joins the process group described by ``torchrun``'s environment variables when ``WORLD_SIZE > 1``
    and no group exists yet (and leaves it at the end), or uses the caller's group. On CUDA each process
    takes the GPU ``cuda:<LOCAL_RANK>`` when ``device`` names no index.

    :param device: the run's device setting (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
    """
    dist = torch.distributed
    created = False
    device = torch.device(device)
    if dist.is_available() and not dist.is_initialized() and _env_int("WORLD_SIZE", 1) > 1:
        missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
        if missing:
            raise RuntimeError(
                f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {missing} are not set: start distributed runs with "
                "torchrun (e.g. torchrun --nproc_per_node 2 -m vpt_gym.cli bc train ...)"
            )
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
        created = True
    try:
        if dist.is_available() and dist.is_initialized():
            rank, world = dist.get_rank(), dist.get_world_size()
            local = _env_int("LOCAL_RANK", rank)
            if device.type == "cuda" and device.index is None:
                device = torch.device("cuda", local)
            if device.type == "cuda":
                torch.cuda.set_device(device)
        else:
            rank, world, local = 0, 1, 0
        yield DistributedContext(rank, world, local, device)
    finally:
        if created:
            dist.destroy_process_group()


def resolve_shards(data_shards: int | None, saved: int | None, world_size: int, batch_size: int) -> int:
    """The run's number of data shards ``S``, checked.

    :param data_shards: the setting (None: the saved value when resuming, else ``world_size``).
    :param saved: the value stored in the checkpoint being resumed (None for a fresh run).
    :param world_size: processes N (must divide ``S``). :param batch_size: global batch (``S`` must divide it).
    """
    shards = data_shards if data_shards is not None else (saved if saved is not None else world_size)
    if shards < 1:
        raise ValueError(f"data_shards must be >= 1; got {shards}")
    if shards % world_size:
        raise ValueError(
            f"data_shards ({shards}{', the value of the run being resumed' if data_shards is None and saved else ''}) "
            f"must be a multiple of the number of processes ({world_size}): each process reads a whole number of "
            "shards (a run continues on any number of processes dividing its data_shards, so start runs that may "
            "grow with a larger --data-shards)"
        )
    if batch_size % shards:
        raise ValueError(
            f"batch_size ({batch_size}, the global batch) must be a multiple of data_shards ({shards}): every "
            "shard gives the same number of items to each batch"
        )
    return shards


def shard_range(rank: int, world_size: int, n_shards: int) -> range:
    """The shards rank ``rank`` of ``world_size`` reads (a contiguous block of ``n_shards / world_size``)."""
    per = n_shards // world_size
    return range(rank * per, (rank + 1) * per)


def deal(items: Sequence[T], n_shards: int) -> list[list[T]]:
    """``items`` dealt round-robin to ``n_shards`` shards: shard ``s`` gets ``items[s::n_shards]``."""
    return [list(items[s::n_shards]) for s in range(n_shards)]

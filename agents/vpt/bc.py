"""Behavioural cloning (BC) of the VPT policy from (pseudo-)labelled contractor data, and fine-tuning a
pretrained policy with the same entry point (spec vpt.md 6.4).

**Loss**: ``-log pi(a | o)`` of the recorded agent action ``a = [button class, camera class]``
(:func:`vpt_gym.actions.env_to_agent`), summed over both heads, with the heads' temperature-scaled
log-probabilities (the temperature the checkpoint's config says, e.g. ``pi_head_opts.temperature`` of an
official ``.model``), averaged over the frames of the batch. (The reference sums over the batch and
divides by its size; the average over frames is the same up to the chunk length.)

**Memory and chunks** (a documented change from the reference, which backpropagates one frame at a time
with the transformer state detached after every frame, i.e. no backpropagation through time): the
batch has ``batch_size`` lanes; each lane plays recordings one after another in ``chunk_len``-frame
chunks (``timesteps``, 128, by default). The policy runs on the whole (B, T) chunk with the memory
(key/value cache) carried over from the lane's previous chunk, so gradients flow through the attention
across all frames of the chunk; the memory is detached between chunks (truncated BPTT) and a
recording's first frame has ``first=True``, so nothing is attended to across recordings (the attention
honours the flag anywhere in a chunk). When the data runs out, the lanes still running are padded with
masked frames.

**Null actions**: steps are read with :func:`agents.vpt.contractor.read_pair`'s ``drop_null="agent"``
by default, the rule the reference intends (all buttons off and no camera motion), which its own check
never applies (spec 11).

**Optimisation**: AdamW with the reference's hyper-parameters as defaults (lr 0.000181, weight decay
0.039428, max grad norm 5.0; the reference's torch ``Adam`` adds the decay to the gradient (L2), AdamW
decouples it: our choice, as is usual for transformers). **Gradient clipping fix**: the reference builds
Adam from ``policy.parameters()`` (a generator) and then calls ``clip_grad_norm_(policy.parameters() ...``
with the same exhausted generator, so no gradient is ever clipped. Here the trainable parameters are
materialised once as a list and that list is given to both the optimizer and
:func:`torch.nn.utils.clip_grad_norm_`; the logged ``grad_norm`` is the norm before clipping.

**Other action spaces**: a policy whose config has ``action_space="crafter"`` (one categorical over
Crafter's 17 actions) trains with the same code: its data is read with the ``"crafter"`` action codec
(:mod:`agents.vpt.action_codecs`), agent actions are ``[index]`` and the loss is ``-log pi(index | o)``.
Crafter runs should set ``drop_null="none"`` (``noop`` is a real choice in Crafter).

Checkpoints are atomic and resumable (:mod:`agents.vpt.training_run`), including the lanes' memory, so a
resumed run continues identically; progress goes to a tqdm bar and SB3's logger (stdout / csv /
tensorboard). **Fine-tuning** is :func:`train_bc` with ``init_from`` set to a pretrained directory, an
official ``.model``/``.weights`` pair or a released name (:func:`agents.vpt.io.from_pretrained`).

**Data-parallel runs** (``torchrun``, :mod:`agents.vpt.distributed`): the recordings are dealt to
``data_shards`` shards, each played by its own ``batch_size / data_shards`` lanes on the one process that
reads it; the loss is the mean over the global batch's frames and rank 0 saves every lane's memory, so a
run resumes on another number of processes.

Example::

    >>> from agents.vpt.bc import BCConfig, train_bc
    >>> # from scratch:   train_bc(BCConfig(data="labelled/", out_dir="runs/bc", policy="1x"))
    >>> # fine-tuning:    train_bc(BCConfig(data="house/", out_dir="runs/ft", init_from="foundation-model-1x"))
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.vpt.config import POLICY_PRESETS
from agents.vpt.contractor import ContractorFormatError, ContractorPair, read_pair, resolve_pairs
from agents.vpt.distributed import DistributedContext, deal, distributed_context, resolve_shards, shard_range
from agents.vpt.policy import VPTPolicyNet
from agents.vpt.training_run import (
    check_training_numbers,
    build_network,
    check_resumable,
    latest_checkpoint,
    load_checkpoint,
    make_logger,
    prefetch,
    save_checkpoint,
)
from agents.vpt.transformer import TransformerState
from vpt_gym.atomic_file import replace_directory_atomic
from vpt_gym.number_checks import check_number

__all__ = [
    "BCBatch",
    "BCConfig",
    "BCResult",
    "iter_bc_batches",
    "bc_loss",
    "detach_state",
    "evaluate_bc",
    "train_bc",
    "trainable_parameters",
]

Problems = list[tuple[ContractorPair, str]]


# --------------------------------------------------------------------------------------------------
# Data: lanes of consecutive chunks
# --------------------------------------------------------------------------------------------------


@dataclass
class BCBatch:
    """One (B, T) training chunk.

    :param frames: (B, T, S, S, 3) uint8. :param actions: (B, T, k) int64 agent actions (k = 2 for Minecraft's
        ``[button, camera]``, 1 for Crafter's ``[index]``).
    :param first: (B, T) bool, True at each recording's first step. :param mask: (B, T) bool, False on padding.
    """

    frames: np.ndarray
    actions: np.ndarray
    first: np.ndarray
    mask: np.ndarray


class _Lane:
    """One batch row: recordings taken from a shared iterator, played one after another."""

    def __init__(self, pairs: Iterator[ContractorPair], read_kwargs: dict[str, Any], problems: Problems) -> None:
        self.pairs, self.read_kwargs, self.problems = pairs, read_kwargs, problems
        self.chunks: Iterator[Any] | None = None
        self.pair: ContractorPair | None = None
        self.pending_first = False
        self.buffer: collections.deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = collections.deque()
        self.buffered = 0

    def _refill(self) -> bool:
        while True:
            if self.chunks is None:
                self.pair = next(self.pairs, None)
                if self.pair is None:
                    return False
                self.chunks = iter(read_pair(self.pair, **self.read_kwargs))
                self.pending_first = True
            try:
                chunk = next(self.chunks)
            except StopIteration:
                self.chunks = None
                continue
            except (ContractorFormatError, OSError, ValueError) as err:  # reported, the lane moves on
                self.problems.append((self.pair, str(err)))
                self.chunks = None
                continue
            if len(chunk) == 0:
                continue
            first = np.zeros(len(chunk), dtype=bool)
            first[0], self.pending_first = self.pending_first, False
            self.buffer.append((chunk.frames, chunk.agent_actions, first))
            self.buffered += len(chunk)
            return True

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Up to ``n`` next steps (fewer only when the data is exhausted; None when there is none)."""
        while self.buffered < n and self._refill():
            pass
        parts, got = [], 0
        while self.buffer and got < n:
            frames, actions, first = self.buffer.popleft()
            k = min(n - got, len(frames))
            parts.append((frames[:k], actions[:k], first[:k]))
            if k < len(frames):
                self.buffer.appendleft((frames[k:], actions[k:], first[k:]))
            got += k
        self.buffered -= got
        if not parts:
            return None
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def iter_bc_batches(
    pairs: Sequence[ContractorPair],
    batch_size: int,
    chunk_len: int,
    resolution: int,
    drop_null: str = "agent",
    problems: Problems | None = None,
    chunk_size: int = 64,
    action_codec: str = "minecraft",
) -> Iterator[BCBatch]:
    """(B, T) chunks of ``pairs`` in the order given (see the module docstring).

    :param pairs: recordings; lane i takes the next unplayed recording whenever it finishes one.
    :param batch_size: lanes B. :param chunk_len: frames per chunk T. :param resolution: frame side.
    :param drop_null: :func:`agents.vpt.contractor.read_pair`'s null rule.
    :param problems: collects ``(pair, reason)`` for unreadable recordings (skipped; the steps read
        before a recording failed are kept).
    :param chunk_size: frames decoded at a time.
    :param action_codec: how the jsonl actions are read (:mod:`agents.vpt.action_codecs`).
    """
    from agents.vpt.action_codecs import get_codec

    agent_dims = get_codec(action_codec).agent_dims
    if batch_size < 1 or chunk_len < 1:
        raise ValueError(f"batch_size and chunk_len must be >= 1; got {batch_size}, {chunk_len}")
    problems = problems if problems is not None else []
    shared = iter(list(pairs))
    kwargs = {"resolution": resolution, "drop_null": drop_null, "chunk_size": chunk_size, "action_codec": action_codec}
    lanes = [_Lane(shared, kwargs, problems) for _ in range(batch_size)]
    while True:
        parts = [lane.take(chunk_len) for lane in lanes]
        if all(p is None for p in parts):
            return
        frames = np.zeros((batch_size, chunk_len, resolution, resolution, 3), np.uint8)
        actions = np.zeros((batch_size, chunk_len, agent_dims), np.int64)
        first = np.ones((batch_size, chunk_len), bool)
        mask = np.zeros((batch_size, chunk_len), bool)
        for b, part in enumerate(parts):
            if part is not None:
                n = len(part[0])
                frames[b, :n], actions[b, :n], first[b, :n], mask[b, :n] = part[0], part[1], part[2], True
        yield BCBatch(frames, actions, first, mask)


# --------------------------------------------------------------------------------------------------
# Loss and state
# --------------------------------------------------------------------------------------------------


def bc_loss(policy: VPTPolicyNet, logp: dict[str, torch.Tensor], actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over unmasked frames of ``-(log pi_buttons(a_0) + log pi_camera(a_1))`` (``-log pi(a_0)`` for a
    Crafter policy).

    :param policy: the policy (its heads compute the log-probabilities of the actions).
    :param logp: ``{"buttons": (B, T, 8641), "camera": (B, T, 121)}`` temperature-scaled log-probs
        (``{"action": (B, T, 17)}`` for Crafter).
    :param actions: (B, T, k) int64 agent actions (k = ``policy.pi_head.agent_dims``). :param mask: (B, T) bool.
    """
    k = policy.pi_head.agent_dims
    if actions.shape[-1] != k or tuple(actions.shape[:-1]) != tuple(mask.shape):
        raise ValueError(f"actions must be (B, T, {k}) matching mask {tuple(mask.shape)}; got {tuple(actions.shape)}")
    log_prob = policy.pi_head.log_prob(logp, policy.pi_head.split(actions))
    weight = mask.float()
    return -(log_prob * weight).sum() / weight.sum().clamp(min=1.0)


def detach_state(state: TransformerState) -> TransformerState:
    """The memory without its autograd history (truncated BPTT between chunks)."""
    return tuple(tuple(t.detach() for t in layer) for layer in state)  # type: ignore[return-value]


def _state_tensors(state: TransformerState) -> dict[str, torch.Tensor]:
    # copies: layers may share one tensor (e.g. a common validity mask), which safetensors refuses to save
    return {f"memory.{i}.{j}": t.detach().clone() for i, layer in enumerate(state) for j, t in enumerate(layer)}


def _state_from_tensors(tensors: dict[str, torch.Tensor], like: TransformerState) -> TransformerState:
    out = []
    for i, layer in enumerate(like):
        row = []
        for j, t in enumerate(layer):
            saved = tensors.get(f"memory.{i}.{j}")
            if saved is None or saved.shape != t.shape or saved.dtype != t.dtype:
                raise ValueError(
                    f"checkpoint memory entry memory.{i}.{j} is {None if saved is None else tuple(saved.shape)}; "
                    f"expected {tuple(t.shape)} {t.dtype} (batch_size changed since the checkpoint?)"
                )
            row.append(saved.to(t.device))
        out.append(tuple(row))
    return tuple(out)  # type: ignore[return-value]


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters to optimise and clip, as a list (never a one-shot generator; see the module doc)."""
    return [p for p in model.parameters() if p.requires_grad]


def _to_tensors(batch: BCBatch, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(a).to(device) for a in (batch.frames, batch.actions, batch.first, batch.mask))


@torch.no_grad()
def evaluate_bc(
    policy: VPTPolicyNet,
    pairs: Sequence[ContractorPair],
    batch_size: int = 8,
    chunk_len: int | None = None,
    drop_null: str = "agent",
    problems: Problems | None = None,
) -> float:
    """Mean ``-log pi(a | o)`` per frame over ``pairs`` (memory carried through each recording, as in training)."""
    chunk_len = chunk_len or policy.config.timesteps
    device = next(policy.parameters()).device
    was_training = policy.training
    policy.eval()
    total, frames = 0.0, 0
    state = policy.initial_state(batch_size)
    for batch in iter_bc_batches(pairs, batch_size, chunk_len, policy.config.img_size, drop_null, problems,
                                 action_codec=policy.config.action_space):  # fmt: skip
        obs, actions, first, mask = _to_tensors(batch, device)
        out, state = policy(obs, first, state)
        n = int(mask.sum())
        total += float(bc_loss(policy, out.logp, actions, mask)) * n
        frames += n
    policy.train(was_training)
    if frames == 0:
        raise ValueError("no frames to evaluate")
    return total / frames


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


@dataclass
class BCConfig:
    """Settings of a BC / fine-tuning run (saved in every checkpoint's ``trainer_state.json``).

    :param data: directory of (pseudo-)labelled contractor pairs, or a list of pair paths.
    :param out_dir: run directory (checkpoints, logs, ``final/``).
    :param labels: directory holding the ``.jsonl`` labels when they are not beside the videos (same
        relative paths, as :func:`agents.vpt.labelling.label_directory` writes them with ``out_root``).
    :param policy: preset of a freshly initialised policy (``"1x"``, ``"2x"``, ``"3x"``, ``"tiny"``), or a
        ``PolicyConfig.to_dict()`` (e.g. :data:`agents.vpt.config.CRAFTER_POLICY`'s); the config's
        ``action_space`` also picks the data's action codec.
    :param init_from: fine-tune this pretrained policy instead (directory, official files or released name).
    :param val_data: held-out pairs (directory) for the validation loss; none by default.
    :param chunk_len: frames per chunk (default: the policy's ``timesteps``, 128).
    :param batch_size: lanes (8, as the reference's BATCH_SIZE).
    :param epochs: passes over the data (2, as the reference). :param max_steps: stop after this many updates.
    :param lr: AdamW learning rate (0.000181). :param weight_decay: AdamW weight decay (0.039428).
    :param max_grad_norm: gradient clipping (5.0).
    :param drop_null: null-step rule (``"agent"``, ``"json"``, ``"none"``).
    :param seed: data order (per epoch) and the fresh policy's initialisation.
    :param checkpoint_every: updates between checkpoints (0: only at the end).
    :param keep_checkpoints: checkpoints kept. :param log_every: updates between log lines (100, the
        reference's LOSS_REPORT_RATE). :param log_formats: SB3 logger formats.
    :param progress: tqdm bar. :param device: torch device.
    :param prefetch: batches decoded ahead in a background thread (0: decode in the training loop).
    :param resume: continue from ``out_dir``'s latest checkpoint if there is one.
    :param data_shards: data shards S of a data-parallel run (:mod:`agents.vpt.distributed`): each epoch's
        recordings are dealt to S shards, each read by one process and played by its own
        ``batch_size / S`` lanes. The batches are the same for any number of processes dividing S.
        Default: the value of the run being resumed, else the number of processes (1: all lanes share
        one queue of recordings, as described above).
    """

    data: str | list[str]
    out_dir: str
    labels: str | None = None
    policy: str | dict[str, Any] = "1x"
    init_from: str | None = None
    val_data: str | None = None
    chunk_len: int | None = None
    batch_size: int = 8
    epochs: int = 2
    max_steps: int | None = None
    lr: float = 0.000181
    weight_decay: float = 0.039428
    max_grad_norm: float = 5.0
    drop_null: str = "agent"
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 100
    log_formats: tuple[str, ...] = ("stdout", "csv")
    progress: bool = True
    device: str = "cpu"
    prefetch: int = 2
    resume: bool = True
    data_shards: int | None = None

    def __post_init__(self) -> None:
        """Refuse a number that would train to NaN or do nothing (``max_grad_norm=nan``, ``lr=0``, ...)."""
        check_training_numbers(self)
        check_number("chunk_len", self.chunk_len, integer=True, minimum=1, optional=True)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["log_formats"] = list(self.log_formats)
        return d


@dataclass
class BCResult:
    """What :func:`train_bc` returns.

    :param policy: the trained policy. :param steps: updates in total. :param losses: every update's loss
        in this call. :param val_loss: final validation loss (None without ``val_data``).
    :param problems: skipped recordings. :param final_dir: the final policy (``save_pretrained`` format).
    """

    policy: VPTPolicyNet
    steps: int
    losses: list[float]
    val_loss: float | None
    problems: Problems = field(default_factory=list)
    final_dir: Path | None = None


def build_policy(policy: str | dict[str, Any], init_from: str | None, seed: int) -> VPTPolicyNet:
    """A fresh policy from a preset (initialised with ``seed``) or a pretrained one to fine-tune."""
    return build_network(VPTPolicyNet, "VPT policy", POLICY_PRESETS, policy, init_from, seed)


#: Settings that decide the data order and the network: a resumed run must keep them.
_RESUME_KEYS = ("policy", "init_from", "batch_size", "chunk_len", "drop_null", "seed", "labels", "data_shards")


class _LogProbs(torch.nn.Module):
    """The policy's forward returning ``(logp, new_state)``: plain containers, in which DDP finds the output
    tensors (it does not look inside :class:`~agents.vpt.policy.PolicyOutput`, and would then never
    average the gradients)."""

    def __init__(self, policy: VPTPolicyNet) -> None:
        super().__init__()
        self.policy = policy

    def forward(
        self, obs: torch.Tensor, first: torch.Tensor, state: TransformerState
    ) -> tuple[dict[str, torch.Tensor], TransformerState]:
        out, new_state = self.policy(obs, first, state)
        return out.logp, new_state


def _padding(lanes: int, chunk_len: int, resolution: int, agent_dims: int) -> BCBatch:
    """A chunk of padding for ``lanes`` lanes (no frame counts; ``first`` set, as iter_bc_batches pads)."""
    return BCBatch(
        np.zeros((lanes, chunk_len, resolution, resolution, 3), np.uint8), np.zeros((lanes, chunk_len, agent_dims), np.int64),
        np.ones((lanes, chunk_len), bool), np.zeros((lanes, chunk_len), bool),
    )  # fmt: skip


def _rank_batches(
    order: Sequence[ContractorPair], config: BCConfig, shards: int, ctx: DistributedContext, chunk_len: int,
    policy: VPTPolicyNet, problems: Problems,
) -> Iterator[BCBatch]:  # fmt: skip
    """This process's lanes of each chunk of an epoch: shard ``s`` plays ``order[s::shards]`` on its
    ``batch_size / shards`` lanes (padding once it ran out), the shards' lanes stacked in shard order.
    Ends when all of this process's shards ran out."""
    from agents.vpt.action_codecs import get_codec

    lanes, resolution = config.batch_size // shards, policy.config.img_size
    dims = get_codec(policy.config.action_space).agent_dims
    dealt = deal(order, shards)
    streams: list[Iterator[BCBatch] | None] = [
        iter_bc_batches(dealt[s], lanes, chunk_len, resolution, config.drop_null, problems,
                        action_codec=policy.config.action_space)  # fmt: skip
        for s in shard_range(ctx.rank, ctx.world_size, shards)
    ]
    while True:
        parts = [next(stream, None) if stream is not None else None for stream in streams]
        streams = [stream if part is not None else None for stream, part in zip(streams, parts)]
        if all(part is None for part in parts):
            return
        parts = [part if part is not None else _padding(lanes, chunk_len, resolution, dims) for part in parts]
        if len(parts) == 1:
            yield parts[0]
        else:
            yield BCBatch(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(BCBatch)))


def train_bc(config: BCConfig) -> BCResult:
    """Behavioural cloning / fine-tuning (see the module docstring); resumes from ``config.out_dir``'s
    latest checkpoint when there is one.

    Under ``torchrun`` (or in an initialised process group) the run is data-parallel
    (:mod:`agents.vpt.distributed`): every process calls this with the same config and plays
    ``batch_size / N`` of the lanes; rank 0 writes the checkpoints (with every lane's memory), logs and
    the final policy, and every rank returns the same result.

    :param config: the run's settings.
    :return: a :class:`BCResult`.
    """
    with distributed_context(config.device) as ctx:
        return _train_bc(config, ctx)


def _train_bc(config: BCConfig, ctx: DistributedContext) -> BCResult:
    from stable_baselines3.common.logger import Logger
    from tqdm.auto import tqdm

    from agents.vpt.idm_training import _check_same_pairs

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = ctx.device
    pairs = resolve_pairs(config.data, config.labels)
    _check_same_pairs(ctx, pairs)
    val_pairs = resolve_pairs(config.val_data) if config.val_data is not None else []
    policy = build_policy(config.policy, config.init_from, config.seed).to(device)
    chunk_len = config.chunk_len or policy.config.timesteps
    params = trainable_parameters(policy)  # one list for the optimizer AND the clipping (reference bug fix)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    step, epoch, done_in_epoch = 0, 0, 0
    ckpt = latest_checkpoint(out) if config.resume else None
    saved_config: dict[str, Any] = {}
    extra: dict[str, torch.Tensor] = {}
    if ckpt is not None:
        saved, extra = load_checkpoint(ckpt, policy, optimizer, required=("epoch", "batches_in_epoch", "config"))
        saved_config = {"data_shards": 1, **saved.get("config", {})}  # runs from before data_shards had one
        step, epoch, done_in_epoch = int(saved["step"]), int(saved["epoch"]), int(saved["batches_in_epoch"])
    shards = resolve_shards(config.data_shards, saved_config.get("data_shards"), ctx.world_size, config.batch_size)
    settings = {**config.to_json(), "data_shards": shards}
    if ckpt is not None:
        check_resumable(ckpt, saved_config, settings, _RESUME_KEYS)
    lanes = config.batch_size // ctx.world_size  # this process's lanes: rows [lo, lo + lanes) of the batch
    lo = ctx.rank * lanes
    state = policy.initial_state(lanes, device)
    if done_in_epoch:  # the checkpoint holds every lane's memory; take this process's rows
        state = _state_from_tensors({k: v[lo : lo + lanes] for k, v in extra.items()}, state)
    model = ctx.wrap(_LogProbs(policy))
    logger = make_logger(out / "logs" / f"from-step-{step}", config.log_formats) if ctx.is_main else Logger(None, [])
    problems: Problems = []
    losses: list[float] = []
    max_steps = config.max_steps if config.max_steps is not None else math.inf
    bar = tqdm(total=None if config.max_steps is None else config.max_steps, initial=step, unit="step",
               desc="BC training", disable=not config.progress or not ctx.is_main)  # fmt: skip

    def save() -> None:  # every process calls it (the memory of all lanes is gathered); rank 0 writes
        memory = {k: ctx.gather_batch(v) for k, v in _state_tensors(state).items()}
        if ctx.is_main:
            trainer_state = {"step": step, "epoch": epoch, "batches_in_epoch": done_in_epoch, "config": settings}
            save_checkpoint(out, policy, optimizer, trainer_state, memory, keep=config.keep_checkpoints)

    started, frames_seen = time.perf_counter(), 0
    val_loss = None
    try:
        while epoch < config.epochs and step < max_steps:
            rng = np.random.default_rng([config.seed, epoch])
            order = [pairs[i] for i in rng.permutation(len(pairs))]
            batches = prefetch(_rank_batches(order, config, shards, ctx, chunk_len, policy, problems), config.prefetch)
            finished = True
            index = -1
            while True:
                index += 1
                batch = next(batches, None)
                if index < done_in_epoch:
                    continue  # resumed: trained on before the checkpoint (the memory was restored)
                if step >= max_steps:
                    finished = False
                    break
                if batch is None:  # this process's shards ran out; others may still have data
                    batch = _padding(lanes, chunk_len, policy.config.img_size, policy.pi_head.agent_dims)
                n_local = int(batch.mask.sum())
                (n_global,) = ctx.sum([n_local])
                if n_global == 0:  # every lane of every process ran out: the epoch is over
                    break
                obs, actions, first, mask = _to_tensors(batch, device)
                logp, new_state = model(obs, first, state)
                loss = bc_loss(policy, logp, actions, mask)
                # this process's share of the mean over the global batch; DDP averages, so times N
                share = n_local / n_global
                optimizer.zero_grad(set_to_none=True)
                (loss * (share * ctx.world_size)).backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
                optimizer.step()
                state = detach_state(new_state)
                step, done_in_epoch = step + 1, index + 1
                frames_seen += int(n_global)
                losses.append(ctx.sum([float(loss.detach()) * share])[0])
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
                if step % config.log_every == 0:
                    logger.record("train/loss", losses[-1])
                    logger.record("train/grad_norm", grad_norm)
                    logger.record("train/epoch", epoch)
                    logger.record("time/frames_per_second", frames_seen / (time.perf_counter() - started))
                    logger.dump(step)
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    save()
            batches.close()  # stops the prefetch thread when the loop ended early
            if index == 0 and finished and done_in_epoch == 0:
                reported = [p for rank_problems in ctx.gather_objects(problems) for p in rank_problems]
                raise ValueError(
                    "no training steps: every recording failed or has no kept steps; problems: "
                    f"{[(str(p.video), reason) for p, reason in reported]}"
                )
            if not finished:
                break
            epoch, done_in_epoch = epoch + 1, 0
            state = policy.initial_state(lanes, device)
        save()
        if val_pairs and ctx.is_main:
            val_loss = evaluate_bc(policy, val_pairs, config.batch_size, chunk_len, config.drop_null, problems)
            logger.record("eval/loss", val_loss)
        val_loss = ctx.broadcast_object(val_loss)
        logger.record("train/total_steps", step)
        logger.dump(step)
    finally:
        bar.close()
        logger.close()
    from agents.vpt.io import save_pretrained

    final_dir = out / "final"
    if ctx.is_main:
        replace_directory_atomic(final_dir, lambda tmp: save_pretrained(policy, tmp), durable=True)
    seen: set[tuple[str, str]] = set()
    unique = [p for rank_problems in ctx.gather_objects(problems) for p in rank_problems
              if (str(p[0].video), p[1]) not in seen and not seen.add((str(p[0].video), p[1]))]  # fmt: skip
    ctx.barrier()  # the final policy is written before any process returns
    return BCResult(policy.eval(), step, losses, val_loss, unique, final_dir)

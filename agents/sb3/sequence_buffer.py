"""Rollout storage for policies with a memory (a transformer's key/value cache, a world model's latent).

SB3's :class:`~stable_baselines3.common.buffers.RolloutBuffer` hands PPO random minibatches of single
steps, which a policy with memory cannot evaluate: step ``t``'s action distribution depends on every
earlier step of its episode. :class:`SequenceRolloutBuffer` instead

- keeps the rollout as SB3 does (``(n_steps, n_envs, ...)`` arrays, episode starts included), with the
  observations in the observation space's own dtype (uint8 frames stay uint8: 4x less memory than
  SB3's float32 copy);
- stores the policy's memory (and the reference policy's, for the KL term) only at the *start of every
  chunk* of ``chunk_len`` consecutive steps of each env (:meth:`SequenceRolloutBuffer.add_memory`);
- yields minibatches made of whole chunks (``batch_size // chunk_len`` chunks, shuffled), each with its
  episode-start flags and its start memories, so training recomputes the chunk from the stored memory
  exactly as the rollout computed it step by step.

Memories are nested tuples of tensors whose first axis is the env (batch) axis; :func:`map_memory`
works on any such nesting.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer

#: A policy memory: a tensor, or nested tuples/lists of tensors, batch first.
Memory = Any


def map_memory(fn: Callable[..., th.Tensor], *memories: Memory) -> Memory:
    """Apply ``fn`` leaf-wise to one or more memories of the same structure."""
    first = memories[0]
    if isinstance(first, th.Tensor):
        return fn(*memories)
    if isinstance(first, (tuple, list)):
        return tuple(map_memory(fn, *parts) for parts in zip(*memories))
    raise TypeError(f"a memory must be a tensor or nested tuples of tensors, got {type(first).__name__}")


def select_memory(memory: Memory, index: th.Tensor | list[int] | slice) -> Memory:
    """The memory of the envs/sequences ``index`` (first axis)."""
    return map_memory(lambda t: t[index], memory)


class SequenceRolloutBufferSamples(NamedTuple):
    """A minibatch of whole chunks; the step fields are flat ``(n_sequences * chunk_len, ...)``, chunk-major.

    :param episode_starts: (N,) float, 1.0 where a new episode starts.
    :param memory: the policy's memory at the start of each chunk (batch ``n_sequences``).
    :param ref_memory: the reference policy's memory at the start of each chunk (or None).
    :param n_sequences: number of chunks.
    """

    observations: th.Tensor
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor
    episode_starts: th.Tensor
    memory: Memory
    ref_memory: Memory
    n_sequences: int


class SequenceRolloutBuffer(RolloutBuffer):
    """A :class:`RolloutBuffer` that yields chunks of consecutive steps plus their start memories.

    ``chunk_len`` is set by the algorithm from the policy (:meth:`set_chunk_len`) after the policy is
    built; ``n_steps`` must be a multiple of it.

    :param chunk_len: steps per chunk (1 until set).
    Other parameters: as :class:`RolloutBuffer`.
    """

    def __init__(self, *args: Any, chunk_len: int = 1, **kwargs: Any) -> None:
        self.chunk_len = 1
        super().__init__(*args, **kwargs)
        self.set_chunk_len(chunk_len)

    def set_chunk_len(self, chunk_len: int) -> None:
        """Use chunks of ``chunk_len`` steps (``buffer_size`` must be a multiple)."""
        if chunk_len < 1 or self.buffer_size % chunk_len:
            raise ValueError(
                f"n_steps ({self.buffer_size}) must be a positive multiple of the policy's chunk_len, "
                f"got chunk_len={chunk_len}"
            )
        self.chunk_len = int(chunk_len)

    def reset(self) -> None:
        super().reset()
        dtype = self.observation_space.dtype if isinstance(self.observation_space, spaces.Box) else np.float32
        self.observations = np.zeros((self.buffer_size, self.n_envs, *self.obs_shape), dtype=dtype)
        self.memory_starts: list[Memory] = []
        self.ref_memory_starts: list[Memory] = []

    def add_memory(self, memory: Memory, ref_memory: Memory | None = None) -> None:
        """Record the memories *before* the step about to be added; call it when ``pos % chunk_len == 0``."""
        if self.pos % self.chunk_len:
            raise RuntimeError(f"add_memory at step {self.pos}, which does not start a chunk of {self.chunk_len}")
        if len(self.memory_starts) != self.pos // self.chunk_len:
            raise RuntimeError(f"memory for chunk {len(self.memory_starts)} recorded at step {self.pos}")
        self.memory_starts.append(map_memory(lambda t: t.detach().clone(), memory))
        if ref_memory is not None:
            self.ref_memory_starts.append(map_memory(lambda t: t.detach().clone(), ref_memory))

    def _chunk_memories(self, starts: list[Memory]) -> Memory | None:
        """Stack per-chunk memories into one memory indexed by chunk id ``env * n_chunks + chunk``."""
        if not starts:
            return None

        def stack(*leaves: th.Tensor) -> th.Tensor:
            x = th.stack(leaves, dim=1)  # (n_envs, n_chunks, ...)
            return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])

        return map_memory(stack, *starts)

    def get(  # type: ignore[override]
        self, batch_size: int | None = None
    ) -> Generator[SequenceRolloutBufferSamples, None, None]:
        """Shuffled minibatches of ``batch_size // chunk_len`` whole chunks (``batch_size`` must be a multiple
        of ``chunk_len``; None = everything in one minibatch)."""
        assert self.full, "the rollout buffer is not full"
        n_chunks = self.buffer_size // self.chunk_len
        if len(self.memory_starts) != n_chunks:
            raise RuntimeError(f"{len(self.memory_starts)} chunk memories recorded, expected {n_chunks}")
        total = n_chunks * self.n_envs
        if batch_size is None:
            batch_size = total * self.chunk_len
        if batch_size % self.chunk_len:
            raise ValueError(
                f"batch_size ({batch_size}) must be a multiple of the policy's chunk_len ({self.chunk_len})"
            )
        if not self.generator_ready:
            for name in ("observations", "actions", "values", "log_probs", "advantages", "returns", "episode_starts"):
                # (n_steps, n_envs, ...) -> (n_envs * n_steps, ...): step t of env e at e * n_steps + t, so
                # chunk id k = e * n_chunks + c covers k * chunk_len ... + chunk_len.
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self._memory = self._chunk_memories(self.memory_starts)
            self._ref_memory = self._chunk_memories(self.ref_memory_starts)
            self.generator_ready = True
        per_batch = batch_size // self.chunk_len
        order = np.random.permutation(total)
        steps = np.arange(self.chunk_len)
        for start in range(0, total, per_batch):
            chunk_ids = order[start : start + per_batch]
            yield self._get_chunks(chunk_ids, (chunk_ids[:, None] * self.chunk_len + steps).ravel())

    def _get_chunks(self, chunk_ids: np.ndarray, indices: np.ndarray) -> SequenceRolloutBufferSamples:
        ids = th.as_tensor(chunk_ids, device=self._memory_device())
        return SequenceRolloutBufferSamples(
            observations=self.to_torch(self.observations[indices]),
            actions=self.to_torch(self.actions[indices]),
            old_values=self.to_torch(self.values[indices].flatten()),
            old_log_prob=self.to_torch(self.log_probs[indices].flatten()),
            advantages=self.to_torch(self.advantages[indices].flatten()),
            returns=self.to_torch(self.returns[indices].flatten()),
            episode_starts=self.to_torch(self.episode_starts[indices].flatten()),
            memory=select_memory(self._memory, ids),
            ref_memory=None if self._ref_memory is None else select_memory(self._ref_memory, ids),
            n_sequences=len(chunk_ids),
        )

    def _memory_device(self) -> th.device:
        leaves: list[th.Tensor] = []
        map_memory(lambda t: leaves.append(t) or t, self._memory)
        return leaves[0].device

"""What a policy with memory does with SB3's memory-less entry points.

``ActorCriticPolicy.forward``, ``evaluate_actions``, ``get_distribution``, ``predict_values`` and
``_predict`` take observations only. A policy whose action depends on a memory (VPT's transformer cache,
GenRL's latent state) cannot answer them honestly, so :class:`MemoryOnlyEntryPoints` makes each raise an
error that says what to use instead: :class:`agents.sb3.KLPPO` for training (it drives the sequence
protocol: ``initial_memory``, ``step``, ``sequence_distribution``...) and ``predict(obs, state,
episode_start)`` for acting.
"""
from __future__ import annotations

from typing import Any, NoReturn

import torch as th


class MemoryOnlyEntryPoints:
    """Mixin (put it before ``ActorCriticPolicy`` in the bases) for policies with memory.

    :cvar memory_description: what the memory is, for the error message (e.g. "the transformer memory").
    """

    memory_description: str = "its memory"

    def _needs_memory(self, name: str) -> NoReturn:
        raise NotImplementedError(
            f"{type(self).__name__}.{name} needs {self.memory_description}; train with agents.sb3.KLPPO "
            "(kl_coef=0 for plain PPO) and act with predict(obs, state, episode_start)"
        )

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        self._needs_memory("forward")

    def evaluate_actions(self, obs: Any, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        self._needs_memory("evaluate_actions")

    def get_distribution(self, obs: Any) -> Any:
        self._needs_memory("get_distribution")

    def predict_values(self, obs: Any) -> th.Tensor:
        self._needs_memory("predict_values")

    def _predict(self, observation: Any, deterministic: bool = False) -> th.Tensor:
        self._needs_memory("_predict")

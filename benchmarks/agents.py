"""Evaluation agents of the benchmark runner: batched ``act(obs) -> actions`` over a vector env.

An agent is registered as an :class:`AgentSpec`: ``check(context)`` says cheaply, before any env is built,
whether the agent can run (it raises :class:`AgentUnavailable` with a message naming what to pass or
install), and ``build(envs, seed, context)`` returns the object that acts. Agents that train (GenRL
behaviours, VLM-reward PPO) do it inside ``build``, caching what they learned under ``context.work_dir`` so
that an interrupted suite resumes; they may expose ``learning_curve`` (GT return vs env steps), which the
runner stores in the cell and the report plots.

Per step the runner calls ``act(obs)``, steps the vector env, then ``observe(obs, actions, done)`` when the
agent defines it (stateful agents: GenRL's latent filter, VPT's transformer memory).

Example::

    >>> import gymnasium as gym
    >>> envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    >>> agent = make_agent("random", envs, seed=0)
    >>> agent.act(envs.reset(seed=0)[0]).shape
    (2,)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Protocol

import gymnasium as gym
import numpy as np


class AgentUnavailable(RuntimeError):
    """The agent cannot run here (missing checkpoint, weights or extra); the message says what to pass."""


class EvalAgent(Protocol):
    label: str

    def act(self, obs: Any) -> np.ndarray: ...


@dataclass
class AgentOptions:
    """What the user gave for the trained agents (``vpt-gym bench`` flags), shared by every cell.

    :param genrl_checkpoints: domain -> world-model checkpoint (an official GenRL ``.pt`` or one of ours,
        ``.safetensors``); the key ``"*"`` names a directory holding ``<domain>.pt`` / ``<domain>.safetensors``.
    :param vlm: a VLM name or model directory for :func:`agents.genrl.vlm.load_vlm` (or a VLM object).
    :param vpt_model: a released VPT name or a checkpoint path for ``VPTPolicyNet.from_pretrained``.
    :param settings: agent -> overrides of the suite's :attr:`~benchmarks.suites.Suite.agent_settings`.
    :param progress: show training progress bars.
    """

    genrl_checkpoints: dict[str, str] = field(default_factory=dict)
    vlm: Any = None
    vpt_model: str = "foundation-model-1x"
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = False
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` once per key (a VLM or a world model is loaded once for all tasks); an
        :class:`AgentUnavailable` is cached too, so its message is given per cell without retrying."""
        if key not in self._cache:
            try:
                self._cache[key] = make()
            except AgentUnavailable as err:
                self._cache[key] = err
        value = self._cache[key]
        if isinstance(value, AgentUnavailable):
            raise value
        return value


@dataclass
class AgentContext:
    """Everything an agent factory may need beyond the vector env.

    :param env_id: the task's env id. :param env_kwargs: its ``gym.make`` keyword arguments.
    :param options: the user's :class:`AgentOptions`. :param settings: this agent's settings (suite data
        merged with the user's overrides). :param work_dir: where the agent caches what it trains.
    :param env_maker: how the runner makes one env (``env_maker(env_id, **env_kwargs)``).
    """

    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    options: AgentOptions = field(default_factory=AgentOptions)
    settings: dict[str, Any] = field(default_factory=dict)
    work_dir: Optional[Path] = None
    env_maker: Callable[..., gym.Env] = gym.make

    def make_env(self) -> gym.Env:
        return self.env_maker(self.env_id, **self.env_kwargs)


class RandomAgent:
    """Uniformly random actions from the single-env action space, one per sub-env (seeded)."""

    label = "random"

    def __init__(self, envs: gym.vector.VectorEnv, seed: int, context: Optional[AgentContext] = None) -> None:
        self.space = envs.action_space
        self.space.seed(seed)

    def act(self, obs: Any) -> np.ndarray:
        return self.space.sample()


@dataclass(frozen=True)
class AgentSpec:
    """One benchmark agent.

    :param build: ``build(envs, seed, context) -> agent``. :param check: ``check(context)``, raising
        :class:`AgentUnavailable` when the agent cannot run (called before the cell's envs are made).
    :param trains: whether the agent trains per task (the report then plots learning curves).
    :param settings: the setting names it accepts (suite ``agent_settings``, ``--set``).
    :param inputs: the :class:`AgentOptions` fields it reads (part of its cells' identity, see
        :func:`agent_inputs`).
    """

    build: Callable[[gym.vector.VectorEnv, int, AgentContext], EvalAgent]
    check: Optional[Callable[[AgentContext], None]] = None
    trains: bool = False
    settings: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()


def _genrl_build(envs: gym.vector.VectorEnv, seed: int, context: AgentContext) -> EvalAgent:
    from benchmarks.genrl_agent import build

    return build(envs, seed, context)


def _genrl_check(context: AgentContext) -> None:
    from benchmarks.genrl_agent import check

    check(context)


def _vlm_ppo_build(envs: gym.vector.VectorEnv, seed: int, context: AgentContext) -> EvalAgent:
    from benchmarks.vlm_ppo_agent import build

    return build(envs, seed, context)


def _vlm_ppo_check(context: AgentContext) -> None:
    from benchmarks.vlm_ppo_agent import check

    check(context)


def _vpt_build(envs: gym.vector.VectorEnv, seed: int, context: AgentContext) -> EvalAgent:
    from benchmarks.vpt_agent import build

    return build(envs, seed, context)


def _vpt_check(context: AgentContext) -> None:
    from benchmarks.vpt_agent import check

    check(context)


AGENTS: dict[str, AgentSpec] = {
    "random": AgentSpec(RandomAgent),
    "genrl": AgentSpec(_genrl_build, _genrl_check, trains=True,
                       settings=("steps", "config", "batch_size", "batch_length", "checkpoint_every"),
                       inputs=("genrl_checkpoints", "vlm")),
    "vlm-ppo": AgentSpec(_vlm_ppo_build, _vlm_ppo_check, trains=True,
                         settings=("timesteps", "algo", "policy", "k", "prompt", "n_steps", "batch_size",
                                   "learning_rate", "n_epochs", "buffer_size", "learning_starts"),
                         inputs=("vlm",)),
    "vpt": AgentSpec(_vpt_build, _vpt_check, settings=("dtype",), inputs=("vpt_model",)),
}


def get_agent_spec(name: str) -> AgentSpec:
    if name not in AGENTS:
        raise KeyError(f"Unknown benchmark agent {name!r}; valid agents: {', '.join(AGENTS)}")
    return AGENTS[name]


def check_agent(name: str, context: AgentContext) -> None:
    """Raise :class:`AgentUnavailable` (with what to pass or install) if ``name`` cannot run on this cell."""
    spec = get_agent_spec(name)
    if spec.check is not None:
        spec.check(context)


def make_agent(name: str, envs: gym.vector.VectorEnv, seed: int, context: Optional[AgentContext] = None) -> EvalAgent:
    """Build agent ``name`` for ``envs`` (``context`` defaults to one for the env's first sub-env id)."""
    spec = get_agent_spec(name)
    if context is None:
        context = AgentContext(env_id=getattr(envs.spec, "id", "") or "")
    return spec.build(envs, seed, context)


def agent_inputs(name: str, options: AgentOptions) -> dict[str, Any]:
    """The user inputs agent ``name`` reads from ``options`` (checkpoints, VLM, VPT model), by field name."""
    return {field_name: getattr(options, field_name) for field_name in get_agent_spec(name).inputs}


def merged_settings(suite_settings: Mapping[str, Mapping[str, Any]], options: AgentOptions, agent: str) -> dict[str, Any]:
    """An agent's settings: the suite's, overridden by the user's ``--set agent.key=value``.

    :raises ValueError: for a setting the agent does not know (the message lists the ones it does).
    """
    out = dict(suite_settings.get(agent, {}))
    out.update(options.settings.get(agent, {}))
    allowed = get_agent_spec(agent).settings
    unknown = sorted(set(out) - set(allowed))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for agent {agent!r}; it accepts {list(allowed) or 'none'}")
    return out

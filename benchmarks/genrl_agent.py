"""The ``genrl`` benchmark agent: a GenRL behaviour learned per task from its text prompt, then evaluated.

Data-driven: the user names one trained multimodal foundation world model per domain,

* ``--genrl-checkpoint walker=/models/genrl_walker_500k_2.pt`` (an official GenRL checkpoint, loaded safely
  with :func:`agents.genrl.official.load_official_genrl`) or ``walker=/runs/walker/world_model.safetensors``
  (one of ours, :mod:`agents.genrl.checkpoint`, which must hold a connector);
* or ``--genrl-checkpoint DIR``, a directory holding ``<domain>.pt``, ``<domain>.safetensors`` or GenRL's
  release names ``genrl_<domain>_*.pt``;

plus ``--vlm`` (the VLM whose embedding space the connector was trained on; it embeds the task's text prompt).
Per task, :func:`agents.genrl.behaviour.learn_behaviour` learns a behaviour in imagination (data-free mode,
GenRL's text-prompt setting) into ``<out>/agents/genrl/<task>/``, where its checkpoint makes the learning
resumable and a finished behaviour is reused. Settings (suite data, ``--set genrl.KEY=VALUE``): ``steps``
(GenRL: 50,000 updates), ``config`` (``"genrl"`` for GenRL's sizes, ``"small"`` for
:meth:`~agents.genrl.behaviour.BehaviourConfig.small`), ``batch_size``/``batch_length`` overrides.

Without a checkpoint for the task's domain, :func:`check` raises :class:`~benchmarks.agents.AgentUnavailable`
saying what to pass, and the runner skips the cell.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import gymnasium as gym
import numpy as np

from benchmarks.agent_vlm import text_vlm
from benchmarks.agents import AgentContext, AgentOptions, AgentUnavailable
from vpt_gym.tasks import TASKS

_TASK_BY_ENV_ID = {t.env_id: t for t in TASKS.values()}
CHECKPOINT_SUFFIXES = (".pt", ".safetensors")


def checkpoint_for(options: AgentOptions, domain: str) -> Optional[Path]:
    """The world-model checkpoint the user gave for ``domain`` (explicitly, or found in the ``"*"`` directory)."""
    if domain in options.genrl_checkpoints:
        return Path(options.genrl_checkpoints[domain]).expanduser()
    directory = options.genrl_checkpoints.get("*")
    if directory is None:
        return None
    directory = Path(directory).expanduser()
    candidates = [directory / f"{domain}{s}" for s in CHECKPOINT_SUFFIXES] + sorted(directory.glob(f"genrl_{domain}_*.pt"))
    return next((c for c in candidates if c.is_file()), None)


def _task(context: AgentContext) -> Any:
    task = _TASK_BY_ENV_ID.get(context.env_id)
    if task is None:
        raise AgentUnavailable(f"genrl: {context.env_id} is not one of GenRL's tasks (vpt_gym.tasks), so it has no prompt")
    return task


def check(context: AgentContext) -> None:
    """Raise :class:`AgentUnavailable` unless a checkpoint for the task's domain and a text VLM are given."""
    task = _task(context)
    path = checkpoint_for(context.options, task.domain)
    if path is None:
        raise AgentUnavailable(
            f"genrl: no world model for domain {task.domain!r}; pass --genrl-checkpoint {task.domain}=PATH (an "
            f"official GenRL .pt such as genrl_{task.domain}_500k_2.pt, or a vpt-gym world-model .safetensors with "
            f"a connector), or --genrl-checkpoint DIR holding {task.domain}.pt"
        )
    if not path.is_file():
        raise AgentUnavailable(f"genrl: the checkpoint for domain {task.domain!r} does not exist: {path}")
    text_vlm(context.options, "genrl")


def load_model(path: Path, vlm: Any) -> Any:
    """An :class:`~agents.genrl.reward.MFWM` from an official ``.pt`` or one of our ``.safetensors`` files."""
    from agents.genrl.reward import MFWM

    if path.suffix == ".pt":
        from agents.genrl.official import load_official_genrl

        loaded = load_official_genrl(path)
        if loaded.connector is None:
            raise AgentUnavailable(f"genrl: {path} holds no connector, so prompts cannot be turned into targets")
        world_model, connector = loaded.world_model, loaded.connector
    elif path.suffix == ".safetensors":
        from agents.genrl.checkpoint import load_checkpoint

        state = load_checkpoint(path, restore_rng=False)
        if state.connector is None:
            raise AgentUnavailable(f"genrl: {path} holds no connector; train the world model with its connector")
        world_model, connector = state.model, state.connector
    else:
        raise AgentUnavailable(f"genrl: {path} is neither an official GenRL .pt nor a vpt-gym .safetensors checkpoint")
    try:
        return MFWM(world_model, connector, vlm)
    except ValueError as err:  # e.g. the VLM's embedding size differs from the connector's
        raise AgentUnavailable(f"genrl: {path} does not fit the VLM: {err}") from err


def behaviour_config(settings: dict[str, Any]) -> Any:
    from agents.genrl.behaviour import BehaviourConfig

    kind = settings.get("config", "genrl")
    overrides = {k: settings[k] for k in ("batch_size", "batch_length") if k in settings}
    if kind == "genrl":
        return BehaviourConfig(**overrides)
    if kind == "small":
        return BehaviourConfig.small(**overrides)
    raise ValueError(f"genrl.config must be 'genrl' or 'small', got {kind!r}")


class GenRLBenchAgent:
    """A learned GenRL behaviour acting in a vector env: the posterior filter advances every step.

    :param policy: a :class:`~agents.genrl.behaviour.GenRLPolicy`. :param label: the report's agent label.
    """

    def __init__(self, policy: Any, label: str) -> None:
        self.policy, self.label = policy, label
        self._started = False

    def act(self, obs: Any) -> np.ndarray:
        if not self._started:
            self.policy.reset(np.asarray(obs))
            self._started = True
        return self.policy.act()

    def observe(self, obs: Any, actions: np.ndarray, done: np.ndarray) -> None:
        # Only each sub-env's first episode is scored, so a finished sub-env's state no longer matters.
        self.policy.observe(np.asarray(obs), actions)


def build(envs: gym.vector.VectorEnv, seed: int, context: AgentContext) -> GenRLBenchAgent:
    """Learn (or reload) the task's behaviour and return it as an evaluation agent."""
    import torch

    from agents.genrl.behaviour import learn_behaviour

    check(context)
    task = _task(context)
    vlm = text_vlm(context.options, "genrl")
    path = checkpoint_for(context.options, task.domain)
    assert path is not None  # check() passed
    model = context.options.cached(f"genrl-model:{path}", lambda: load_model(path, vlm))
    settings = context.settings
    steps = int(settings.get("steps", 50_000))
    if steps < 1:
        raise ValueError(f"genrl.steps must be >= 1, got {steps}")
    run_dir = context.work_dir
    with torch.enable_grad():
        policy = learn_behaviour(model, task.prompt, None, steps=steps, config=behaviour_config(settings),
                                 run_dir=run_dir, checkpoint_every=int(settings.get("checkpoint_every", 500)),
                                 seed=seed, progress=context.options.progress)
    label = f"genrl ({steps} updates, VLM {model.vlm_label})"
    return GenRLBenchAgent(policy, label)

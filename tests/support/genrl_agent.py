"""A tiny GenRL agent (world model + imag actor-critic) built and saved in the official vpt-gym formats, for
tests of code that loads pretrained GenRL agents (no real checkpoint can be downloaded here)."""
from __future__ import annotations

from pathlib import Path

import torch

from agents.genrl.behaviour import ActorCritic, BehaviourConfig, save_behaviour
from agents.genrl.checkpoint import TrainingState, save_checkpoint
from agents.genrl.world_model import WorldModel, WorldModelConfig, make_optimizer


def tiny_genrl_agent(action_dim: int = 6, seed: int = 0) -> tuple[WorldModel, ActorCritic]:
    """A CPU-sized world model (``WorldModelConfig.small``: 8x8 latents, deter 64) and a randomly initialised
    2 x 64 actor-critic on its 128-d features; the same ``seed`` gives the same weights."""
    gen_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        wm = WorldModel(WorldModelConfig.small(action_dim=action_dim))
        c = wm.config
        ac = ActorCritic(c.stoch * c.classes + c.deter, action_dim, BehaviourConfig.small())
    finally:
        torch.set_rng_state(gen_state)
    return wm, ac


def save_tiny_genrl_agent(directory: Path, action_dim: int = 6, seed: int = 0) -> tuple[Path, Path]:
    """Write :func:`tiny_genrl_agent` as a world-model checkpoint and a behaviour checkpoint; returns both paths."""
    wm, ac = tiny_genrl_agent(action_dim, seed)
    directory = Path(directory)
    wm_path = save_checkpoint(directory / "world_model.safetensors", TrainingState(wm, make_optimizer(wm)))
    behaviour_path = save_behaviour(directory / "behaviour.safetensors", ac, step=0, embedding=torch.ones(16))
    return wm_path, behaviour_path

"""Slow: collect real walker pixel episodes and check that the small world model learns them."""
import numpy as np
import pytest
import torch

from agents.genrl.episodes import EpisodeStore, collect
from agents.genrl.train_world_model import to_torch
from agents.genrl.world_model import WorldModel, WorldModelConfig, make_optimizer, update


@pytest.mark.slow
def test_small_world_model_reduces_walker_reconstruction_loss(tmp_path):
    dmc = pytest.importorskip("vpt_gym.envs.dmc")
    env = dmc.make("walker", "walk", seed=0, render_quality="fast")
    store = EpisodeStore(tmp_path)
    collect(env, None, n_episodes=2, store=store, seed=0, progress=False)
    assert store.lengths == [501, 501]
    torch.manual_seed(0)
    wm = WorldModel(WorldModelConfig.small(action_dim=env.action_space.shape[0]))
    opt = make_optimizer(wm)  # the reference's settings (lr 1e-4)
    rng = np.random.default_rng(0)
    losses = [update(wm, opt, to_torch(store.sample(8, 32, rng)))["image_loss"] for _ in range(150)]
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.6 * first, (first, last)

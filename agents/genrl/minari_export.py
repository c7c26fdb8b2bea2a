"""GenRL episode stores (:class:`agents.genrl.episodes.EpisodeStore`, e.g. exploration data) as Minari
datasets and back (``pip install -e ".[minari]"`` in the vpt-gym checkout).

GenRL's rows and Minari's steps line up as follows (an episode of ``T`` rows is ``T - 1`` Minari steps):

- row 0 holds the reset observation (``is_first``, zero action, zero reward); row ``t > 0`` holds the action
  that led to observation ``t`` and its reward. So Minari's ``observations`` are all ``T`` observations
  (as HWC ``(64, 64, 3)`` uint8, the environments' layout; the store keeps CHW), ``actions`` and
  ``rewards`` are rows ``1..T-1``, ``terminations = is_terminal[1:]`` and
  ``truncations = is_last[1:] & ~is_terminal[1:]``;
- ``discount`` goes into ``infos["discount"]`` (one value per observation), so the round trip is exact.

A Minari dataset from elsewhere loads as an episode store when its observations are 64x64 RGB images and
its actions a flat float vector (``discount`` is then ``1 - terminal``).

Example::

    >>> from agents.genrl.minari_export import episode_store_to_minari, minari_to_episode_store
    >>> # episode_store_to_minari(EpisodeStore("runs/explore/data"), "vpt-gym/walker-walk/plan2explore-v0",
    >>> #                         env="vpt_gym/walker-walk-v0", algorithm_name="plan2explore")
    >>> # store = minari_to_episode_store("vpt-gym/walker-walk/plan2explore-v0", "runs/copy/data")
"""
from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec

from agents.genrl.episodes import EPISODE_KEYS, EpisodeStore
from agents.minari_datasets import MinariEpisode, load_dataset, write_dataset

__all__ = ["episode_store_to_minari", "minari_to_episode_store", "episode_to_minari", "minari_to_episode"]

OBSERVATION_SPACE = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)


def episode_to_minari(episode: dict[str, np.ndarray]) -> MinariEpisode:
    """One GenRL episode (the store's arrays) in Minari's layout (see the module docstring)."""
    if len(episode["is_first"]) < 2:
        raise ValueError("an episode of one row (the reset only) has no step to export")
    terminal = np.asarray(episode["is_terminal"], bool)[1:]
    return MinariEpisode(
        observations=np.ascontiguousarray(np.asarray(episode["observation"]).transpose(0, 2, 3, 1)),
        actions=np.asarray(episode["action"], np.float32)[1:],
        rewards=np.asarray(episode["reward"], np.float64)[1:, 0],
        terminations=terminal,
        truncations=np.asarray(episode["is_last"], bool)[1:] & ~terminal,
        infos={"discount": np.asarray(episode["discount"], np.float32)[:, 0]},
    )


def minari_to_episode(episode: Any) -> dict[str, np.ndarray]:
    """A Minari episode (``minari.EpisodeData``) as a GenRL episode dict.

    :raises ValueError: when its observations are not 64x64 RGB uint8 images or its actions not flat floats.
    """
    obs = np.asarray(episode.observations) if not isinstance(episode.observations, dict) else None
    if obs is None or obs.ndim != 4 or obs.dtype != np.uint8 or obs.shape[1:] not in ((64, 64, 3), (3, 64, 64)):
        what = "a dict" if obs is None else f"{obs.dtype} {obs.shape}"
        raise ValueError(f"episode {episode.id}: GenRL needs 64x64 RGB uint8 image observations (T, 64, 64, 3); "
                         f"got {what}")  # fmt: skip
    actions = np.asarray(episode.actions)
    if actions.ndim != 2 or actions.dtype.kind != "f":
        raise ValueError(f"episode {episode.id}: GenRL needs flat float actions (T, A); got {actions.dtype} "
                         f"{actions.shape}")  # fmt: skip
    chw = obs if obs.shape[1:] == (3, 64, 64) else np.ascontiguousarray(obs.transpose(0, 3, 1, 2))
    n = len(chw)
    terminal = np.concatenate([[False], np.asarray(episode.terminations, bool)])
    last = np.concatenate([[False], np.asarray(episode.terminations, bool) | np.asarray(episode.truncations, bool)])
    infos = episode.infos or {}
    discount = np.asarray(infos["discount"], np.float32) if "discount" in infos else (~terminal).astype(np.float32)
    return {
        "observation": chw,
        "action": np.concatenate([np.zeros((1, actions.shape[1]), np.float32), actions.astype(np.float32)]),
        "reward": np.concatenate([[0.0], np.asarray(episode.rewards, np.float64)]).astype(np.float32)[:, None],
        "discount": discount.reshape(n, 1),
        "is_first": np.eye(1, n, dtype=bool)[0],
        "is_last": last,
        "is_terminal": terminal,
    }


def episode_store_to_minari(
    store: EpisodeStore,
    dataset_id: str,
    env: str | EnvSpec,
    *,
    action_space: gym.Space | None = None,
    algorithm_name: str | None = None,
    description: str | None = None,
    author: str | None = None,
    author_email: str | None = None,
    code_permalink: str | None = None,
) -> Any:
    """Write every episode of ``store`` as the Minari dataset ``dataset_id``.

    :param store: the episodes (e.g. GenRL exploration data).
    :param dataset_id: e.g. ``"vpt-gym/walker-walk/random-v0"``.
    :param env: the environment the episodes came from (a registered id or spec; recorded in the dataset).
    :param action_space: the actions' space (default ``Box(-1, 1, (A,), float32)``, the action space of
        vpt-gym's dm_control and kitchen tasks).
    :param algorithm_name: :param description: :param author: :param author_email: :param code_permalink:
        Minari's metadata.
    :return: the ``minari.MinariDataset``.
    """
    if len(store) == 0:
        raise ValueError(f"the episode store {store.directory} has no episodes")
    episodes = [episode_to_minari(store.load(i, EPISODE_KEYS)) for i in range(len(store))]
    dims = {ep.actions.shape[1] for ep in episodes}
    if len(dims) != 1:
        raise ValueError(f"the episodes have different action sizes {sorted(dims)}")
    space = action_space or gym.spaces.Box(-1.0, 1.0, (dims.pop(),), np.float32)
    return write_dataset(
        dataset_id, episodes, env, OBSERVATION_SPACE, space, algorithm_name=algorithm_name,
        description=description or f"GenRL episode store {store.directory.name}: {len(store)} episodes, "
        f"{store.num_steps} rows (64x64 RGB observations; infos['discount'] per observation)",
        author=author, author_email=author_email, code_permalink=code_permalink,
    )  # fmt: skip


def minari_to_episode_store(dataset_id: str, directory: str | os.PathLike, **store_kwargs: Any) -> EpisodeStore:
    """Copy the local Minari dataset ``dataset_id`` into an episode store at ``directory`` (one ``.npz`` per
    episode, GenRL's format) and return the store.

    :param store_kwargs: passed to :class:`EpisodeStore` (``cache_episodes``, ``mmap_dir``).
    """
    dataset = load_dataset(dataset_id)
    store = EpisodeStore(directory, **store_kwargs)
    if len(store):
        raise ValueError(f"{directory} already holds {len(store)} episodes; give an empty directory")
    for episode in dataset.iterate_episodes():
        store.add(minari_to_episode(episode))
    return store

"""Writing and reading `Minari <https://minari.farama.org>`_ datasets (the Farama offline-RL format), shared by
the GenRL episode-store export (:mod:`agents.genrl.minari_export`) and the contractor-data export
(:mod:`agents.vpt.minari_export`). Needs ``pip install -e ".[minari]"`` in the vpt-gym checkout.

A dataset records the gymnasium spec of the environment its data came from (id, entry point, keyword
arguments), so ``minari.load_dataset(id).recover_environment()`` rebuilds that environment where it can run.
The spec is recorded without creating the environment (a MineRL environment cannot be created without MineRL):
the dataset's spaces are given explicitly. Observations are stored losslessly (no JPEG encoding) in
Minari's HDF5 format.

Example::

    >>> from agents.minari_datasets import env_spec
    >>> env_spec("vpt_gym/walker-walk-v0").kwargs
    {'domain': 'walker', 'task': 'walk'}
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec

from vpt_gym.optional import import_optional

__all__ = ["MinariEpisode", "env_spec", "require_minari", "write_dataset", "load_dataset"]


def require_minari() -> Any:
    """The ``minari`` module, or :class:`vpt_gym.optional.MissingDependency` naming the extra.

    A relative ``MINARI_DATASETS_PATH`` is made absolute here (relative to the current directory): Minari
    0.5.4 joins a relative one twice when it writes a dataset and fails.
    """
    minari = import_optional("minari", "minari")
    import_optional("h5py", "minari")  # Minari's HDF5 storage
    root = os.environ.get("MINARI_DATASETS_PATH")
    if root and not os.path.isabs(root):
        os.environ["MINARI_DATASETS_PATH"] = os.path.abspath(root)
    return minari


def env_spec(env: str | EnvSpec) -> EnvSpec:
    """The registered spec of ``env`` (an id such as ``"vpt_gym/walker-walk-v0"``; vpt-gym's ids are
    registered by ``import vpt_gym``), or ``env`` itself when it is already an :class:`EnvSpec`."""
    if isinstance(env, EnvSpec):
        return env
    import vpt_gym  # noqa: F401 - registers the vpt_gym/ ids

    try:
        return gym.spec(env)
    except gym.error.Error as err:
        raise ValueError(f"unknown environment id {str(env)[:200]!r}: {err}") from None


@dataclass
class MinariEpisode:
    """One episode in Minari's layout: ``T`` steps, ``T + 1`` observations.

    :param observations: (T + 1, ...) the observation before each step and the final one.
    :param actions: (T, ...) the action of each step. :param rewards: (T,) float.
    :param terminations: (T,) bool (an MDP terminal state was reached). :param truncations: (T,) bool (the
        episode was cut, e.g. a time limit or the end of a recording).
    :param infos: arrays of length T + 1 (aligned with the observations).
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    infos: dict[str, np.ndarray] = field(default_factory=dict)


class _SpecOnly(gym.Env):
    """What Minari reads of an environment (its spec and spaces), without creating it."""

    def __init__(self, spec: EnvSpec, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.spec, self.observation_space, self.action_space = spec, observation_space, action_space


def write_dataset(
    dataset_id: str,
    episodes: Sequence[MinariEpisode],
    env: str | EnvSpec,
    observation_space: gym.Space,
    action_space: gym.Space,
    *,
    algorithm_name: str | None = None,
    description: str | None = None,
    author: str | None = None,
    author_email: str | None = None,
    code_permalink: str | None = None,
) -> Any:
    """Create the Minari dataset ``dataset_id`` (under ``MINARI_DATASETS_PATH``, default ``~/.minari/datasets``).

    :param dataset_id: ``namespace/env_name/dataset_name-v<N>``, e.g. ``"vpt-gym/walker-walk/random-v0"``.
    :param episodes: the data. :param env: the environment it came from (id or spec; recorded, not created).
    :param observation_space: the observations' space. :param action_space: the actions' space.
    :param algorithm_name: how the data was collected. :param description: what it is.
    :param author: :param author_email: :param code_permalink: Minari's provenance fields.
    :return: the ``minari.MinariDataset``.
    :raises ValueError: when an episode's arrays disagree in length or a dataset with that id exists.
    """
    minari = require_minari()
    from minari.data_collector.episode_buffer import EpisodeBuffer

    if not episodes:
        raise ValueError("no episodes to write")
    spec = env_spec(env)
    buffers = []
    for i, ep in enumerate(episodes):
        n = len(ep.actions)
        lengths = {"observations": len(ep.observations) - 1, "rewards": len(ep.rewards),
                   "terminations": len(ep.terminations), "truncations": len(ep.truncations),
                   **{f"infos[{k!r}]": len(v) - 1 for k, v in ep.infos.items()}}  # fmt: skip
        bad = {k: v for k, v in lengths.items() if v != n}
        if n < 1 or bad:
            raise ValueError(f"episode {i}: {n} actions; expected >= 1 and one more observation/info row than "
                             f"actions and as many rewards/terminations/truncations; got {bad}")  # fmt: skip
        buffers.append(EpisodeBuffer(
            id=i, observations=np.asarray(ep.observations), actions=np.asarray(ep.actions),
            rewards=np.asarray(ep.rewards, np.float64), terminations=np.asarray(ep.terminations, bool),
            truncations=np.asarray(ep.truncations, bool), infos={k: np.asarray(v) for k, v in ep.infos.items()},
        ))  # fmt: skip
    carrier = _SpecOnly(spec, observation_space, action_space)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`eval_env` is set to None")  # the data's env is the eval env
        return minari.create_dataset_from_buffers(
            dataset_id, buffers, env=carrier, algorithm_name=algorithm_name, description=description,
            author=author, author_email=author_email, code_permalink=code_permalink, data_format="hdf5",
            jpeg_encoding=False,
        )  # fmt: skip


def load_dataset(dataset_id: str) -> Any:
    """The local Minari dataset ``dataset_id`` (``minari.load_dataset``; nothing is downloaded).

    :raises FileNotFoundError: naming the datasets directory when there is no such dataset.
    """
    minari = require_minari()
    from minari.storage.datasets_root_dir import get_dataset_path

    path = get_dataset_path(dataset_id)
    if not (path / "data").is_dir():
        raise FileNotFoundError(f"no local Minari dataset {dataset_id!r} (looked in {path}; MINARI_DATASETS_PATH "
                                "sets the datasets directory; `minari download ID` fetches a remote one)")  # fmt: skip
    return minari.load_dataset(dataset_id)

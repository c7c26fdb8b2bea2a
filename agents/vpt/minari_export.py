"""Contractor datasets (video + jsonl pairs, e.g. pseudo-labelled video) as Minari datasets of frames and VPT
agent actions, and Minari datasets back as contractor pairs (``pip install -e ".[minari]"`` in the vpt-gym checkout).

Each recording is one Minari episode, read with :func:`agents.vpt.contractor.read_pair` (every frame kept,
``drop_null="none"``, so consecutive observations are consecutive frames):

- ``observations``: the ``n`` frames, ``(n, R, R, 3)`` uint8 RGB at ``resolution`` (128, VPT's input);
- ``actions``: the agent actions taken at frames ``0..n-2`` (each leads to the next frame): ``[button
  class, camera class]`` in ``MultiDiscrete([8641, 121])`` for Minecraft, ``[index]`` in ``Discrete(17)``
  form (``MultiDiscrete([17])``) for Crafter's codec;
- ``infos["agent_action"]``: the agent action at every frame, the last one included (no Minari step holds
  it, as no frame follows it), so a round trip keeps all ``n`` labels;
- ``rewards`` 0 (contractor data has none), ``terminations`` False, ``truncations`` True at the last step
  (the recording ended; not an MDP terminal).

The environment's spec is recorded (e.g. ``vpt_gym/MineRLBasaltFindCave-v0``) without creating it.

Example::

    >>> from agents.vpt.minari_export import contractor_to_minari, minari_to_contractor
    >>> # contractor_to_minari("labelled/", "vpt-gym/MineRLHumanSurvival/contractor-v0",
    >>> #                      env="vpt_gym/MineRLHumanSurvival-v0")
    >>> # minari_to_contractor("vpt-gym/MineRLHumanSurvival/contractor-v0", "from-minari/")  # then bc train
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec

from agents.minari_datasets import MinariEpisode, load_dataset, write_dataset
from agents.vpt.contractor import AGENT_RESOLUTION, ContractorWriter, read_pair, resolve_pairs

__all__ = ["DEFAULT_ENVS", "agent_action_space", "contractor_to_minari", "iter_minari_recordings", "minari_to_contractor"]


#: The environment recorded for a codec's recordings when none is given.
DEFAULT_ENVS = {"minecraft": "vpt_gym/MineRLHumanSurvival-v0", "crafter": "vpt_gym/Crafter-v1"}


def agent_action_space(action_codec: str) -> gym.spaces.MultiDiscrete:
    """The Minari action space of a codec's agent actions."""
    if action_codec == "minecraft":
        from vpt_gym.actions import agent_action_space as minecraft_space

        return minecraft_space()
    if action_codec == "crafter":
        return gym.spaces.MultiDiscrete([17])
    raise ValueError(f"unknown action codec {action_codec!r}; known: ['crafter', 'minecraft']")


def contractor_to_minari(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    dataset_id: str,
    env: str | EnvSpec | None = None,
    *,
    labels: str | None = None,
    resolution: int = AGENT_RESOLUTION,
    action_codec: str = "minecraft",
    algorithm_name: str | None = "contractor",
    description: str | None = None,
    author: str | None = None,
    author_email: str | None = None,
    code_permalink: str | None = None,
) -> Any:
    """Write every recording of ``data`` as one episode of the Minari dataset ``dataset_id``.

    :param data: a directory of contractor pairs or a list of ``.mp4`` paths (as ``vpt-gym bc train``).
    :param dataset_id: e.g. ``"vpt-gym/MineRLHumanSurvival/contractor-v0"``.
    :param env: the environment the recordings come from (a registered id or spec; recorded, not created).
        Default: :data:`DEFAULT_ENVS` of the codec (VPT's contractors played free survival, MineRL's
        ``HumanSurvival``; Crafter's demonstrations come from ``vpt_gym/Crafter-v1``).
    :param labels: directory of the ``.jsonl`` labels when they are not beside the videos.
    :param resolution: frame side. :param action_codec: ``"minecraft"`` or ``"crafter"``.
    :param algorithm_name: :param description: :param author: :param author_email: :param code_permalink:
        Minari's metadata.
    :return: the ``minari.MinariDataset``.
    :raises ValueError: when a recording cannot be read (naming it) or has fewer than two frames.
    """
    space = agent_action_space(action_codec)
    env = env if env is not None else DEFAULT_ENVS[action_codec]
    episodes = []
    pairs = resolve_pairs(data, labels)
    for pair in pairs:
        frames, actions = [], []
        for chunk in read_pair(pair, resolution=resolution, drop_null="none", action_codec=action_codec):
            frames.append(chunk.frames)
            actions.append(chunk.agent_actions)
        n = sum(len(f) for f in frames)
        if n < 2:
            raise ValueError(f"{pair.video}: {n} frame(s); a Minari episode needs at least two")
        frames_all, actions_all = np.concatenate(frames), np.concatenate(actions).astype(np.int64)
        episodes.append(MinariEpisode(
            observations=frames_all, actions=actions_all[:-1], rewards=np.zeros(n - 1),
            terminations=np.zeros(n - 1, bool), truncations=np.eye(1, n - 1, n - 2, dtype=bool)[0],
            infos={"agent_action": actions_all},
        ))  # fmt: skip
    observation_space = gym.spaces.Box(0, 255, (resolution, resolution, 3), np.uint8)
    return write_dataset(
        dataset_id, episodes, env, observation_space, space, algorithm_name=algorithm_name,
        description=description or f"{len(pairs)} contractor recordings ({sum(len(e.observations) for e in episodes)} "
        f"frames at {resolution}x{resolution}) with VPT agent actions ({action_codec} codec); "
        "infos['agent_action'] holds the action at every frame",
        author=author, author_email=author_email, code_permalink=code_permalink,
    )  # fmt: skip


def iter_minari_recordings(dataset_id: str) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(episode id, frames (n, H, W, 3) uint8, agent actions (n, k) int64)`` for each episode of a local
    Minari dataset: all ``n`` labels when ``infos["agent_action"]`` is there, else the ``n - 1`` frames that
    have an action and those actions (any dataset of RGB frames and integer actions).

    :raises ValueError: when the observations are not RGB uint8 frames or the actions not integers.
    """
    dataset = load_dataset(dataset_id)
    for episode in dataset.iterate_episodes():
        frames = episode.observations
        if isinstance(frames, dict) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            what = "a dict" if isinstance(frames, dict) else f"{frames.dtype} {frames.shape}"
            raise ValueError(f"episode {episode.id}: contractor data needs RGB uint8 frames (n, H, W, 3); got {what}")
        infos = episode.infos or {}
        actions = np.asarray(infos["agent_action"] if "agent_action" in infos else episode.actions)
        if actions.dtype.kind not in "iu":
            raise ValueError(f"episode {episode.id}: VPT agent actions are integers; got {actions.dtype}")
        actions = actions.reshape(len(actions), -1).astype(np.int64)
        if "agent_action" not in infos:
            frames = frames[: len(actions)]
        yield int(episode.id), frames, actions


def minari_to_contractor(dataset_id: str, out_dir: str | os.PathLike, action_codec: str = "minecraft") -> list[Path]:
    """Write each episode of a local Minari dataset as a contractor pair ``episode-<id>.mp4`` + ``.jsonl``
    under ``out_dir`` (what ``vpt-gym bc train`` / ``idm train`` read; the video is mp4v, so lossy).

    :param action_codec: how the agent actions become jsonl steps (``"minecraft"``: via
        :func:`vpt_gym.actions.agent_to_env`; ``"crafter"``: ``{"action": index}``).
    :return: the stems written.
    """
    if action_codec not in ("minecraft", "crafter"):
        raise ValueError(f"unknown action codec {action_codec!r}; known: ['crafter', 'minecraft']")
    from vpt_gym.actions import agent_to_env

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stems = []
    for episode_id, frames, actions in iter_minari_recordings(dataset_id):
        if action_codec == "minecraft":
            batched = agent_to_env(actions)
            env_actions = [{k: v[t] for k, v in batched.items()} for t in range(len(actions))]
        else:
            env_actions = [{"action": int(a[0])} for a in actions]
        stem = out / f"episode-{episode_id:06d}"
        with ContractorWriter(stem, action_codec=action_codec) as writer:
            for frame, action in zip(frames, env_actions):
                writer.write(frame, action)
        stems.append(stem)
    return stems

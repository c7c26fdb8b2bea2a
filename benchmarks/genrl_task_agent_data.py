"""Task-agent data for GenRL's world model: the episodes of a state-based SAC agent learning a task, as pixels.

GenRL's datasets (spec section 7) are, per domain, Plan2Explore exploration data plus the replay buffers of
DreamerV3 agents *learning* the domain's tasks (walker: stand, walk and run, 500k frames each, next to 1M of
exploration). Held-random actions alone (:class:`benchmarks.genrl_end_to_end.HeldRandomActions`) give walkers
that fall within a second: almost no upright or moving frames, so the connector maps the stand, walk and run
prompts to one fallen target (measured in :mod:`benchmarks.genrl_multitask`). Training DreamerV3 from pixels
for hours is out of reach on this CPU; the stand-in here is stable-baselines3's SAC on the proprioceptive
state, learning the same task for ``steps`` agent steps (GenRL's action repeat 2), with every episode of its
learning rendered at 64x64 from the domain's GenRL camera and written to the episode store, as a replay
buffer would hold it (its first, random episodes included).

The task's ground-truth reward trains ONLY this data-collecting agent, as it trained GenRL's DreamerV3 agents;
the world model, the connector and the behaviours learned from prompts never see it (their reward is the
prompt's).

A task's data is one unit of work: its episodes go to ``<store>/agent-<task>/`` and a ``done.json`` marker
(steps, episodes, returns, seconds) is written last; a re-run skips a task with the marker and redoes one
without it (its partial episodes are removed first; SAC is seeded, so the redo is the same run).

Example (two short episodes of a SAC agent that has not learned anything yet)::

    >>> import tempfile
    >>> from agents.genrl.episodes import EpisodeStore
    >>> store = EpisodeStore(tempfile.mkdtemp())
    >>> info = collect_task_agent_data("walker", "stand", steps=100, store_dir=store.directory,
    ...                                learning_starts=50, episode_steps=50, progress=False)
    >>> store.refresh(); len(store), info["episodes"], store.lengths[0]
    (2, 2, 51)
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import gymnasium as gym
import numpy as np

from agents.genrl.episodes import EpisodeRows, save_episode
from vpt_gym.atomic_file import write_atomic

#: default tasks whose learning agents add data, per domain (GenRL's task subsets, spec section 7)
DOMAIN_AGENT_TASKS = {"walker": ("stand", "walk"), "cheetah": ("run",), "stickman": ("stand",),
                      "quadruped": ("walk",)}
MARKER = "done.json"


class RecordPixelEpisodes(gym.Wrapper):
    """Write every episode of a state-observation env to an episode store as 64x64 pixel frames.

    The agent sees the state; each reset and step also renders a frame (``env.render()``, 64x64x3 uint8) and the
    rows (frame, executed action, reward, flags) are saved as one episode file when the episode ends.

    :param env: a dm_control env from :func:`vpt_gym.envs.dmc.make` with ``obs_type="state"``,
        ``render_mode="rgb_array"`` and ``size=64``.
    :param directory: where episode files are written.

    Example::

        >>> import tempfile
        >>> from vpt_gym.envs.dmc import make
        >>> out = tempfile.mkdtemp()
        >>> env = RecordPixelEpisodes(gym.wrappers.TimeLimit(make("walker", "stand", obs_type="state",
        ...     render_mode="rgb_array", render_quality="fast"), 3), out)
        >>> _ = env.reset(seed=0)
        >>> for _ in range(3): _ = env.step(env.action_space.sample())
        >>> env.episodes, env.returns[0] > 0
        (1, True)
    """

    def __init__(self, env: gym.Env, directory: str | Path) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise TypeError(f"RecordPixelEpisodes needs a 1-d Box action space, got {space}")
        self.directory = Path(directory)
        self.episodes = 0
        self.returns: list[float] = []
        self._rows: Optional[EpisodeRows] = None
        self._return = 0.0

    def _frame(self) -> np.ndarray:
        frame = self.env.render()
        if not isinstance(frame, np.ndarray) or frame.shape != (64, 64, 3) or frame.dtype != np.uint8:
            raise ValueError("RecordPixelEpisodes needs render() to give 64x64x3 uint8 frames (make the env with "
                             f"render_mode='rgb_array', size=64), got {type(frame).__name__} "
                             f"{getattr(frame, 'shape', None)}")
        return frame

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._rows = EpisodeRows()
        self._rows.push(self._frame(), np.zeros(self.action_space.shape, np.float32), 0.0, True, False, False)
        self._return = 0.0
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        if self._rows is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        space = self.action_space
        executed = np.clip(np.asarray(action, np.float32), space.low, space.high)
        obs, reward, terminated, truncated, info = self.env.step(action)
        done = bool(terminated or truncated)
        self._rows.push(self._frame(), executed, float(reward), False, done, bool(terminated))
        self._return += float(reward)
        if done:
            save_episode(self.directory, self._rows.episode(), index=self.episodes)
            self.episodes += 1
            self.returns.append(self._return)
            self._rows = None
        return obs, reward, terminated, truncated, info


def agent_tasks(domain: str, spec: Optional[str]) -> tuple[str, ...]:
    """The tasks of ``spec`` (comma-separated; None: the domain's :data:`DOMAIN_AGENT_TASKS`; "": none)."""
    if spec is None:
        return DOMAIN_AGENT_TASKS.get(domain, ())
    from vpt_gym.envs.dmc import valid_tasks

    tasks = tuple(t.strip() for t in spec.split(",") if t.strip())
    known = valid_tasks().get(domain, ())
    bad = [t for t in tasks if t not in known]
    if bad:
        raise ValueError(f"agent tasks {bad!r:.200} are not tasks of domain {domain!r}; expected some of {sorted(known)}")
    return tasks


def collect_task_agent_data(domain: str, task: str, steps: int, store_dir: str | Path, seed: int = 0,
                            learning_starts: int = 1000, episode_steps: Optional[int] = None,
                            progress: bool = True) -> dict[str, Any]:
    """Train SAC on ``domain``-``task`` from states for ``steps`` agent steps, recording its episodes as pixels.

    :param domain, task: the dm_control task the agent learns (its ground-truth reward trains the agent only).
    :param steps: agent steps of SAC's learning (each is 2 control steps).
    :param store_dir: the episode store's directory; episodes go to ``store_dir/agent-<task>/``.
    :param seed: seed of SAC and of the env.
    :param learning_starts: uniform random steps before SAC's first update (SB3's ``learning_starts``).
    :param episode_steps: cut episodes to this many agent steps (None: the task's 500; tests).
    :param progress: a progress bar.
    :return: the marker's contents: ``task``, ``steps``, ``episodes``, ``returns`` (per episode, the task's
        reward), ``seconds``; read back from the marker when this task's data already exists.
    """
    from stable_baselines3 import SAC

    from vpt_gym.envs.dmc import make

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r:.40}")
    out = Path(store_dir) / f"agent-{task}"
    marker = out / MARKER
    if marker.is_file():
        return json.loads(marker.read_text())
    if out.exists():  # an interrupted collection: redo it whole (seeded, so the same run)
        shutil.rmtree(out)
    start = time.monotonic()
    env: gym.Env = make(domain, task, obs_type="state", render_mode="rgb_array", size=64, render_quality="fast",
                        seed=seed)
    if episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, episode_steps)
    recorder = RecordPixelEpisodes(env, out)
    model = SAC("MlpPolicy", recorder, learning_starts=learning_starts, seed=seed, device="cpu", verbose=0)
    model.learn(steps, progress_bar=progress)
    recorder.close()
    info = {"domain": domain, "task": task, "steps": steps, "episodes": recorder.episodes,
            "returns": [round(r, 3) for r in recorder.returns], "seconds": round(time.monotonic() - start, 1)}
    text = json.dumps(info, indent=1)
    write_atomic(marker, lambda tmp: tmp.write_text(text))
    return info


def collect_all(domain: str, tasks: Sequence[str], steps: int, store_dir: str | Path, seed: int = 0,
                progress: bool = True) -> list[dict[str, Any]]:
    """:func:`collect_task_agent_data` for each of ``tasks`` (task i seeded ``seed + i``)."""
    return [collect_task_agent_data(domain, task, steps, store_dir, seed=seed + i, progress=progress)
            for i, task in enumerate(tasks)]


def agent_data_summary(store_dir: str | Path) -> list[dict[str, Any]]:
    """The markers of every task-agent data set under ``store_dir`` (sorted by task)."""
    return [json.loads(m.read_text()) for m in sorted(Path(store_dir).glob(f"agent-*/{MARKER}"))]

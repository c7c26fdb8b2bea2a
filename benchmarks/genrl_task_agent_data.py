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
(steps, episodes, returns, seconds) is written last; a re-run skips a task with the marker. A long SAC run
(100k agent steps took 68-80 minutes here, two runs at once) writes a checkpoint every ``checkpoint_steps``
(SAC's networks, optimisers, replay buffer and RNG states; tensors only, read with ``weights_only=True``), and an
interrupted task resumes from it, losing at most that many steps; one interrupted before its first checkpoint is redone
(its partial episodes are removed first; SAC is seeded, so the redo is the same run).

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

from agents.genrl.episodes import EpisodeRows, episode_index, save_episode
from vpt_gym.atomic_file import write_atomic

#: default tasks whose learning agents add data, per domain (GenRL's task subsets, spec section 7)
DOMAIN_AGENT_TASKS = {"walker": ("stand", "walk"), "cheetah": ("run",), "stickman": ("stand",),
                      "quadruped": ("walk",)}
MARKER = "done.json"
#: the SAC state of an unfinished collection, next to its episodes
CHECKPOINT = "sac_checkpoint.pt"


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

    @property
    def at_episode_start(self) -> bool:
        """True right after a reset (before the episode's first step): nothing of the episode is lost if stopped."""
        return self._rows is not None and len(self._rows) == 1

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
                            checkpoint_steps: int = 10000, progress: bool = True) -> dict[str, Any]:
    """Train SAC on ``domain``-``task`` from states for ``steps`` agent steps, recording its episodes as pixels.

    SAC learns in chunks of ``checkpoint_steps``; after each chunk that ends on an episode boundary the SAC state
    (networks, optimisers, entropy coefficient, replay buffer, counters, RNG states) and the recorder's count are
    written atomically to ``agent-<task>/sac_checkpoint.pt``. An interrupted collection resumes from it: episode
    files written after it are removed, and SAC continues with a freshly reset env (reset seed ``seed`` + episodes
    so far). Its episodes up to the checkpoint are those of an uninterrupted run; later ones differ (the env's
    internal RNG state is not saved). Without a checkpoint the partial set is removed and redone (seeded: the same
    run). The checkpoint holds only tensors and numbers and is read with ``torch.load(weights_only=True)``.

    :param domain, task: the dm_control task the agent learns (its ground-truth reward trains the agent only).
    :param steps: agent steps of SAC's learning (each is 2 control steps).
    :param store_dir: the episode store's directory; episodes go to ``store_dir/agent-<task>/``.
    :param seed: seed of SAC and of the env.
    :param learning_starts: uniform random steps before SAC's first update (SB3's ``learning_starts``).
    :param episode_steps: cut episodes to this many agent steps (None: the task's 500; tests).
    :param checkpoint_steps: agent steps between checkpoints (10,000: about 4 minutes here).
    :param progress: a progress bar.
    :return: the marker's contents: ``task``, ``steps``, ``episodes``, ``returns`` (per episode, the task's
        reward), ``seconds``; read back from the marker when this task's data already exists.
    """
    from stable_baselines3 import SAC
    from tqdm.auto import tqdm

    from vpt_gym.envs.dmc import make

    for name, value in (("steps", steps), ("checkpoint_steps", checkpoint_steps)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r:.40}")
    out = Path(store_dir) / f"agent-{task}"
    marker, checkpoint = out / MARKER, out / CHECKPOINT
    if marker.is_file():
        return json.loads(marker.read_text())
    run = {"domain": domain, "task": task, "seed": seed, "learning_starts": learning_starts,
           "episode_steps": episode_steps}
    state = _read_checkpoint(checkpoint, run) if checkpoint.is_file() else None
    if state is None and out.exists():  # interrupted before any checkpoint: redo it whole (seeded, the same run)
        shutil.rmtree(out)
    start = time.monotonic()
    env: gym.Env = make(domain, task, obs_type="state", render_mode="rgb_array", size=64, render_quality="fast",
                        seed=seed)
    if episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, episode_steps)
    recorder = RecordPixelEpisodes(env, out)
    model = SAC("MlpPolicy", recorder, learning_starts=learning_starts, seed=seed, device="cpu", verbose=0)
    earlier = 0.0
    if state is not None:
        earlier = _restore(model, recorder, state)
        model.env.seed(seed + recorder.episodes)
    with tqdm(total=steps, initial=min(model.num_timesteps, steps), desc=f"SAC {domain}-{task}", unit="step",
              disable=not progress) as bar:
        callback = _step_bar(bar)
        while model.num_timesteps < steps:
            model.learn(min(checkpoint_steps, steps - model.num_timesteps), callback=callback,
                        reset_num_timesteps=False)
            if model.num_timesteps < steps and recorder.at_episode_start:
                _save_checkpoint(checkpoint, run, model, recorder, earlier + time.monotonic() - start)
    recorder.close()
    info = {"domain": domain, "task": task, "steps": steps, "episodes": recorder.episodes,
            "returns": [round(r, 3) for r in recorder.returns],
            "seconds": round(earlier + time.monotonic() - start, 1)}
    text = json.dumps(info, indent=1)
    write_atomic(marker, lambda tmp: tmp.write_text(text))
    checkpoint.unlink(missing_ok=True)
    return info


def _step_bar(bar: Any) -> Any:
    """An SB3 callback that advances the tqdm ``bar`` by one per env step."""
    from stable_baselines3.common.callbacks import BaseCallback

    class StepBar(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(1)
            return True

    return StepBar()


#: the replay buffer's arrays saved in a checkpoint (their first ``pos`` rows)
_BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
#: the largest checkpoint read (a 1M-step replay buffer of a 67-d state is about 0.6 GB)
_MAX_CHECKPOINT_BYTES = 4 << 30


def _save_checkpoint(path: Path, run: dict[str, Any], model: Any, recorder: RecordPixelEpisodes,
                     seconds: float) -> None:
    import torch

    buffer = model.replay_buffer
    if buffer.full:
        raise ValueError("the SAC replay buffer wrapped around; checkpoints keep only its first `pos` rows")
    rows = buffer.pos
    np_state = np.random.get_state()
    state = {
        "format": 1, "run": dict(run), "num_timesteps": int(model.num_timesteps),
        "n_updates": int(model._n_updates), "episode_num": int(model._episode_num),
        "episodes": int(recorder.episodes), "returns": [float(r) for r in recorder.returns],
        "seconds": float(seconds), "policy": model.policy.state_dict(),
        "actor_optimizer": model.actor.optimizer.state_dict(),
        "critic_optimizer": model.critic.optimizer.state_dict(),
        "log_ent_coef": model.log_ent_coef.detach().clone(),
        "ent_coef_optimizer": model.ent_coef_optimizer.state_dict(),
        "buffer": {k: torch.from_numpy(np.ascontiguousarray(getattr(buffer, k)[:rows])) for k in _BUFFER_FIELDS},
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                      "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
    }
    write_atomic(path, lambda tmp: torch.save(state, tmp), durable=True)


def _read_checkpoint(path: Path, run: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint at ``path``, checked (size, safe load, format, same run), or a ValueError naming it."""
    import torch

    size = path.stat().st_size
    if size > _MAX_CHECKPOINT_BYTES:
        raise ValueError(f"{path} is {size} bytes, more than a SAC checkpoint can be ({_MAX_CHECKPOINT_BYTES}); "
                         "delete it to redo this task's data")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or not a tensor-only checkpoint: never unpickle code
        raise ValueError(f"{path} is not a readable SAC checkpoint ({type(e).__name__}: {str(e)[:200]}); "
                         "delete it to redo this task's data") from None
    if not isinstance(state, dict) or state.get("format") != 1 or not isinstance(state.get("run"), dict):
        raise ValueError(f"{path} is not a SAC checkpoint of this module (format 1); delete it to redo this task's data")
    if state["run"] != run:
        raise ValueError(f"{path} was made by another SAC run ({state['run']!r:.300}, expected {run!r:.300}); "
                         "delete it to redo this task's data")
    return state


def _restore(model: Any, recorder: RecordPixelEpisodes, state: dict[str, Any]) -> float:
    """Load ``state`` into a fresh ``model`` and ``recorder``; remove episode files written after it.

    :return: the seconds of collection before the checkpoint.
    """
    import torch

    try:
        model.policy.load_state_dict(state["policy"])
        model.actor.optimizer.load_state_dict(state["actor_optimizer"])
        model.critic.optimizer.load_state_dict(state["critic_optimizer"])
        with torch.no_grad():
            model.log_ent_coef.copy_(state["log_ent_coef"])
        model.ent_coef_optimizer.load_state_dict(state["ent_coef_optimizer"])
        buffer, saved = model.replay_buffer, state["buffer"]
        rows = int(saved["observations"].shape[0])
        if rows >= buffer.buffer_size:
            raise ValueError(f"replay buffer of {rows} rows does not fit SAC's {buffer.buffer_size}")
        for k in _BUFFER_FIELDS:
            target = getattr(buffer, k)
            if tuple(saved[k].shape) != (rows, *target.shape[1:]):
                raise ValueError(f"replay buffer {k} has shape {tuple(saved[k].shape)}, expected "
                                 f"({rows}, {', '.join(map(str, target.shape[1:]))})")
            target[:rows] = saved[k].numpy()
        buffer.pos, buffer.full = rows, False
        model.num_timesteps, model._n_updates = int(state["num_timesteps"]), int(state["n_updates"])
        model._episode_num = int(state["episode_num"])
        torch.set_rng_state(state["torch_rng"])
        rng = state["numpy_rng"]
        np.random.set_state(("MT19937", rng["keys"].numpy().astype(np.uint32), rng["pos"], rng["has_gauss"],
                             rng["cached_gaussian"]))
        episodes = int(state["episodes"])
        returns = [float(r) for r in state["returns"]]
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"the SAC checkpoint in {recorder.directory} does not fit this SAC run "
                         f"({type(e).__name__}: {str(e)[:200]}); delete it to redo this task's data") from None
    if len(returns) != episodes:
        raise ValueError(f"the SAC checkpoint in {recorder.directory} lists {len(returns)} returns for "
                         f"{episodes} episodes; delete it to redo this task's data")
    for path in recorder.directory.glob("*.npz"):  # episodes after the checkpoint (or partial): redone
        index = episode_index(path)
        if index is None or index >= episodes:
            path.unlink()
    recorder.episodes, recorder.returns = episodes, returns
    return float(state["seconds"])


def collect_all(domain: str, tasks: Sequence[str], steps: int, store_dir: str | Path, seed: int = 0,
                progress: bool = True) -> list[dict[str, Any]]:
    """:func:`collect_task_agent_data` for each of ``tasks`` (task i seeded ``seed + i``)."""
    return [collect_task_agent_data(domain, task, steps, store_dir, seed=seed + i, progress=progress)
            for i, task in enumerate(tasks)]


def agent_data_summary(store_dir: str | Path) -> list[dict[str, Any]]:
    """The markers of every task-agent data set under ``store_dir`` (sorted by task)."""
    return [json.loads(m.read_text()) for m in sorted(Path(store_dir).glob(f"agent-*/{MARKER}"))]

"""Run a benchmark suite: every (task, agent) cell, its episodes in a gymnasium vector env.

Read top to bottom: :func:`run_suite` builds the cell list, skips finished cells (resume), evaluates
each remaining cell with :func:`evaluate`, stores it atomically, runs the suite's perf measurements,
and writes the report.
"""
from __future__ import annotations

import datetime
import importlib
import importlib.metadata
import logging
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import vpt_gym
from benchmarks.agents import AgentContext, AgentOptions, AgentUnavailable, check_agent, make_agent, merged_settings
from benchmarks.perf import run_measurement
from benchmarks.pipelines import PipelineUnavailable, run_pipeline
from benchmarks.results import ResultsFile, cell_key
from benchmarks.suites import Suite, env_kwargs_for, env_maker_for
from benchmarks.timing import machine_description
from vpt_gym.optional import MissingDependency
from vpt_gym.tasks import TASKS

logger = logging.getLogger(__name__)

_TASK_BY_ENV_ID = {t.env_id: t for t in TASKS.values()}


def versions() -> dict[str, str]:
    out = {"vpt-gym": vpt_gym.__version__}
    for dist in ("torch", "gymnasium", "numpy", "stable-baselines3", "dm-control", "mujoco", "shimmy"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def make_vector_env(env_id: str, n: int, workers: int, env_kwargs: dict[str, Any],
                    env_maker: Callable[..., gym.Env] = gym.make) -> gym.vector.VectorEnv:
    """``n`` copies of ``env_maker(env_id, **env_kwargs)``; in subprocesses when ``workers > 1`` (one per env)."""
    fns = [lambda: env_maker(env_id, **env_kwargs) for _ in range(n)]
    if workers > 1 and n > 1:
        return gym.vector.AsyncVectorEnv(fns, context="spawn")
    return gym.vector.SyncVectorEnv(fns)


def _jsonable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` for results.json: values JSON cannot hold (factories, test doubles) as their ``repr``."""
    import json

    out = {}
    for key, value in kwargs.items():
        try:
            json.dumps(value)
            out[key] = value
        except TypeError:
            out[key] = repr(value)
    return out


def evaluate(
    env_id: str,
    agent_name: str,
    episodes: int,
    seed: int,
    workers: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    video_path: Path | None = None,
    max_steps: int = 100_000,
    context: AgentContext | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` episodes of ``agent_name`` on ``env_id`` in parallel, one per sub-env.

    Sub-env ``i`` is reset with seed ``seed + i``; each sub-env's first episode is recorded. Agents that
    train do so when they are built (see :mod:`benchmarks.agents`); the training time is in ``train_seconds``.
    :param context: the agent's context (options, settings, cache directory, env maker); default: a plain one.
    :returns: the cell: raw returns, lengths, seeds, normalised scores (GenRL tasks), wall time, and when the
        env or agent provides them: Crafter achievements, MineRL items, the agent's learning curve.
    """
    context = context or AgentContext(env_id=env_id, env_kwargs=dict(env_kwargs or {}))
    envs = make_vector_env(env_id, episodes, workers, env_kwargs or {}, context.env_maker)
    train_start = time.perf_counter()
    try:
        agent = make_agent(agent_name, envs, seed, context)
    except BaseException:
        envs.close()
        raise
    train_seconds = time.perf_counter() - train_start
    observe = getattr(agent, "observe", None)
    seeds = [seed + i for i in range(episodes)]
    start = time.perf_counter()
    obs, _ = envs.reset(seed=seeds)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    finished = np.zeros(episodes, dtype=bool)
    achievements: list[list[str] | None] = [None] * episodes  # envs that report them (Crafter)
    items: list[dict[str, int] | None] = [None] * episodes  # envs that report them (MineRL item tasks)
    frames: list[np.ndarray] = []
    record = video_path is not None and isinstance(obs, np.ndarray) and obs.ndim == 4 and obs.dtype == np.uint8
    steps = 0
    with tqdm(total=episodes, desc=f"{env_id} {agent_name}", unit="ep", leave=False) as bar:
        while not finished.all() and steps < max_steps:
            if record and not finished[0]:
                frames.append(obs[0])
            actions = agent.act(obs)
            obs, reward, terminated, truncated, info = envs.step(actions)
            active = ~finished
            returns[active] += np.asarray(reward, dtype=np.float64)[active]
            lengths[active] += 1
            newly = active & (np.asarray(terminated) | np.asarray(truncated))
            if "episode_achievements" in info:
                for i in np.flatnonzero(newly & info["_episode_achievements"]):
                    achievements[i] = sorted(info["episode_achievements"][i])
            if "episode_items" in info:
                for i in np.flatnonzero(newly & info["_episode_items"]):
                    items[i] = {str(k): int(v) for k, v in info["episode_items"][i]}
            if observe is not None:
                observe(obs, actions, np.asarray(terminated) | np.asarray(truncated))
            finished |= newly
            bar.update(int(newly.sum()))
            steps += 1
    envs.close()
    if not finished.all():
        raise RuntimeError(f"{env_id}: {int((~finished).sum())} episode(s) did not end within {max_steps} steps")
    cell: dict[str, Any] = {
        "env_id": env_id,
        "agent": agent_name,
        "agent_label": getattr(agent, "label", agent_name),
        "returns": returns.tolist(),
        "lengths": lengths.tolist(),
        "seeds": seeds,
        "wall_seconds": time.perf_counter() - start,
        "train_seconds": train_seconds,
        "env_kwargs": _jsonable(env_kwargs or {}),
    }
    if any(a is not None for a in achievements):
        cell["achievements"] = achievements
    if any(i is not None for i in items):
        cell["items"] = items
    curve = getattr(agent, "learning_curve", None)
    if curve is not None:
        cell["learning_curve"] = curve
    task = _TASK_BY_ENV_ID.get(env_id)
    if task is not None:
        cell["task"] = task.id
        cell["domain"] = task.domain
        cell["normalized"] = [task.normalized_score(r) for r in cell["returns"]]
    if record and frames:
        import imageio.v3 as iio

        video_path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(video_path, np.stack(frames[::2]), duration=100, loop=0)  # every 2nd frame, 10 fps
        cell["video"] = str(video_path.name)
    return cell


def _suite_unavailable(suite: Suite) -> str | None:
    if suite.requires is None:
        return None
    try:
        importlib.import_module(suite.requires)
    except ImportError:
        return (
            f"suite {suite.name!r} skipped: it needs {suite.requires!r}, which is not installed "
            f"(pip install -e \".[{suite.requires}]\" in the vpt-gym checkout; see the README)"
        )
    return None


def run_suite(
    suite: Suite,
    out_dir: str | Path,
    *,
    tasks: list[str] | None = None,
    agents: list[str] | None = None,
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    quick_perf: bool = True,
    videos: bool = True,
    options: AgentOptions | None = None,
) -> ResultsFile:
    """Run ``suite`` (optionally narrowed to ``tasks``/``agents``) and write its report to ``out_dir``.

    Cells already in ``out_dir/results.json`` are kept and not recomputed. A cell whose agent cannot run here
    (no checkpoint or weights given, see :class:`~benchmarks.agents.AgentUnavailable`) is skipped with its
    message, and tried again by the next run. Trained agents cache their training under
    ``out_dir/agents/<agent>/<task>/``.

    :param options: the user's checkpoints, VLM, VPT model and settings overrides for the trained agents.
    """
    from benchmarks.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "suite": suite.name,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "machine": machine_description(),
        "seed": seed,
    }
    results = ResultsFile(out, meta)
    skip = _suite_unavailable(suite)
    if skip:
        print(skip)
        results.data["meta"]["skipped"] = skip
        results.save()
        write_report(results, out)
        return results

    n_episodes = episodes or suite.episodes
    task_list = list(tasks or suite.tasks)
    unknown = [t for t in task_list if t not in gym.registry]
    if unknown:
        raise KeyError(f"Unknown task(s) {unknown}; valid ids: {', '.join(vpt_gym.env_ids())}")
    agent_list = list(agents or suite.agents)
    options = options or AgentOptions()
    env_maker = env_maker_for(suite)
    cells = [(t, a) for t in task_list for a in agent_list]
    total = len(cells) + len(suite.perf) + len(suite.pipelines)
    said: set[str] = set()
    quick_pipelines = suite.pipeline_size == "quick" and quick_perf
    with tqdm(total=total, desc=f"suite {suite.name}", unit="cell") as bar:
        for env_id, agent in cells:
            key = cell_key(env_id, agent)
            if results.has_cell(key, n_episodes):
                bar.update(1)
                continue
            short = env_id.split("/")[-1]
            video = out / "videos" / f"{short}__{agent}.gif" if videos else None
            env_kwargs = env_kwargs_for(suite, env_id)
            context = AgentContext(env_id=env_id, env_kwargs=env_kwargs, options=options,
                                   settings=merged_settings(suite.agent_settings, options, agent),
                                   work_dir=out / "agents" / agent / short, env_maker=env_maker)
            try:
                check_agent(agent, context)  # before any env is built: cheap skips
                cell = evaluate(env_id, agent, n_episodes, seed, workers, env_kwargs, video, context=context)
            except (MissingDependency, AgentUnavailable) as err:  # an extra, a checkpoint or weights missing
                message = str(err).splitlines()[0]
                if message not in said:  # each reason once, not once per task
                    print(f"skipped {agent} on {env_id}: {message}")
                    said.add(message)
                results.data.setdefault("skipped_cells", {})[key] = message
                results.save()
                bar.update(1)
                continue
            results.data.get("skipped_cells", {}).pop(key, None)
            results.put_cell(key, cell)
            bar.update(1)
        for name in suite.pipelines:
            if name not in results.pipelines:
                try:
                    results.put_pipeline(name, run_pipeline(name, out, quick_pipelines))
                    results.data.get("skipped_pipelines", {}).pop(name, None)
                except (MissingDependency, PipelineUnavailable) as err:
                    message = str(err).splitlines()[0]
                    print(f"skipped pipeline {name}: {message}")
                    results.data.setdefault("skipped_pipelines", {})[name] = message
                    results.save()
            bar.update(1)
        for name in suite.perf:
            if name not in results.perf:
                results.put_perf(name, run_measurement(name, quick_perf))
            bar.update(1)
    write_report(results, out)
    return results

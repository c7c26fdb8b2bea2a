"""Run a benchmark suite: every (task, agent) cell, its episodes in a gymnasium vector env.

Read top to bottom: :func:`run_suite` builds the cell list (each cell keyed by everything that changes its
result), skips finished cells (resume), evaluates each remaining cell with :func:`evaluate`, stores it
atomically, runs the suite's pipelines and perf measurements, and writes the report.
"""
from __future__ import annotations

import datetime
import importlib
import logging
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import vpt_gym
from benchmarks.agents import (
    AgentContext,
    AgentOptions,
    AgentUnavailable,
    agent_inputs,
    check_agent,
    make_agent,
    merged_settings,
)
from benchmarks.perf import run_measurement
from benchmarks.pipelines import PipelineUnavailable, run_pipeline
from benchmarks.provenance import command_line, family_versions, git_commit, versions
from benchmarks.results import (
    ResultsFile,
    cell_identity,
    cell_key,
    describe_change,
    jsonable,
    perf_key,
    pipeline_key,
    training_dir_name,
)
from benchmarks.run_log import log_to_file
from benchmarks.suites import Suite, env_kwargs_for, env_maker_for
from benchmarks.timing import machine_description
from vpt_gym.optional import MissingDependency
from vpt_gym.tasks import TASKS

logger = logging.getLogger(__name__)

_TASK_BY_ENV_ID = {t.env_id: t for t in TASKS.values()}


def make_vector_env(env_id: str, n: int, workers: int, env_kwargs: dict[str, Any],
                    env_maker: Callable[..., gym.Env] = gym.make) -> gym.vector.VectorEnv:
    """``n`` copies of ``env_maker(env_id, **env_kwargs)``; in subprocesses when ``workers > 1`` (one per env)."""
    fns = [lambda: env_maker(env_id, **env_kwargs) for _ in range(n)]
    if workers > 1 and n > 1:
        return gym.vector.AsyncVectorEnv(fns, context="spawn")
    return gym.vector.SyncVectorEnv(fns)


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
        "env_kwargs": jsonable(env_kwargs or {}),
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


def _family(env_id: str) -> str | None:
    from vpt_gym.registration import ENV_TABLE

    return next((e.family for e in ENV_TABLE if e.id == env_id), None)


def _say(message: str) -> None:
    """A line for the user that does not break the progress bars."""
    tqdm.write(message)


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
    progress: bool = True,
    command: str | None = None,
) -> ResultsFile:
    """Run ``suite`` (optionally narrowed to ``tasks``/``agents``) and write its report to ``out_dir``.

    A cell is keyed by everything that changes its result (:func:`benchmarks.results.cell_identity`: seed,
    episodes, env kwargs, agent settings and inputs, package versions). Cells already in
    ``out_dir/results.json`` under their key are kept and not recomputed (resume); a cell stored under other
    settings is computed afresh for these, with a message, and the old one stays in the file but is not shown.
    A cell whose agent cannot run here (no checkpoint or weights given, see
    :class:`~benchmarks.agents.AgentUnavailable`) is skipped with its message, and tried again by the next run.
    Trained agents cache their training under ``out_dir/agents/<agent>/<task>/seed<seed>-<hash>/`` (the cell's
    ``agent_dir``; :func:`~benchmarks.results.training_dir_name`); pipelines run in
    ``out_dir/<pipeline>/seed<seed>-<size>/``. Library warnings go to ``out_dir/bench.log``.

    :param episodes: episodes per cell (default: the suite's); must be >= 1.
    :param options: the user's checkpoints, VLM, VPT model and settings overrides for the trained agents.
    :param progress: progress bars (the suite's, each cell's, and the pipelines' stage and step bars).
    :param command: the command line recorded in the report (default: this process's ``sys.argv``).
    :returns: the results file; :meth:`~benchmarks.results.ResultsFile.nothing_evaluated` tells whether every
        cell and pipeline was skipped.
    """
    from benchmarks.report import write_report

    if episodes is not None and (isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1):
        raise ValueError(f"episodes must be a positive integer (episodes per cell), got {episodes!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer (subprocesses per vector env), got {workers!r}")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "suite": suite.name,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else command_line(),
        "commit": git_commit(),
        "versions": versions(),
        "machine": machine_description(),
        "seed": seed,
        "log": "bench.log",
    }
    results = ResultsFile(out, meta)
    skip = _suite_unavailable(suite)
    if skip:
        _say(skip)
        meta.update(skipped=skip, cell_keys=[], pipeline_keys=[], perf_keys=[], seconds=time.perf_counter() - started)
        results.save()
        write_report(results, out)
        return results

    n_episodes = suite.episodes if episodes is None else episodes
    task_list = list(tasks or suite.tasks)
    unknown = [t for t in task_list if t not in gym.registry]
    if unknown:
        raise KeyError(f"Unknown task(s) {unknown}; valid ids: {', '.join(vpt_gym.env_ids())}")
    agent_list = list(agents or suite.agents)
    options = options or AgentOptions()
    env_maker = env_maker_for(suite)
    quick_pipelines = suite.pipeline_size == "quick" and quick_perf
    size = "quick" if quick_pipelines else "full"
    perf_size = "quick" if quick_perf else "full"

    cells = []
    for env_id in task_list:
        for agent in agent_list:
            settings = merged_settings(suite.agent_settings, options, agent)
            env_kwargs = env_kwargs_for(suite, env_id)
            identity = cell_identity(env_id, agent, seed=seed, episodes=n_episodes, env_kwargs=env_kwargs,
                                     agent_settings=settings, agent_inputs=agent_inputs(agent, options),
                                     env_maker=suite.env_maker, versions=family_versions(_family(env_id)))
            cells.append((cell_key(identity), identity, env_kwargs, settings))
    pipeline_keys = {name: pipeline_key(name, seed, size) for name in suite.pipelines}
    perf_keys = {name: perf_key(name, perf_size) for name in suite.perf}
    meta.update(cell_keys=[c[0] for c in cells], pipeline_keys=list(pipeline_keys.values()),
                perf_keys=list(perf_keys.values()))
    _say_other_settings(results, cells)

    seconds: dict[str, float] = {"cells": 0.0, "pipelines": 0.0, "perf": 0.0}
    total = len(cells) + len(suite.perf) + len(suite.pipelines)
    said: set[str] = set()
    with log_to_file(out / "bench.log") as log, \
            tqdm(total=total, desc=f"suite {suite.name}", unit="item", disable=not progress) as bar:
        t0 = time.perf_counter()
        for key, identity, env_kwargs, settings in cells:
            env_id, agent = identity["env_id"], identity["agent"]
            if results.has_cell(key):
                bar.update(1)
                continue
            bar.set_postfix_str(f"{env_id.split('/')[-1]} {agent}")
            short = env_id.split("/")[-1]
            video = out / "videos" / f"{short}__{agent}__seed{seed}.gif" if videos else None
            agent_dir = Path("agents") / agent / short / training_dir_name(identity)
            context = AgentContext(env_id=env_id, env_kwargs=env_kwargs, options=options, settings=settings,
                                   work_dir=out / agent_dir, env_maker=env_maker)
            try:
                check_agent(agent, context)  # before any env is built: cheap skips
                cell = evaluate(env_id, agent, n_episodes, seed, workers, env_kwargs, video, context=context)
            except (MissingDependency, AgentUnavailable) as err:  # an extra, a checkpoint or weights missing
                message = str(err).splitlines()[0]
                if message not in said:  # each reason once, not once per task
                    _say(f"skipped {agent} on {env_id}: {message}")
                    said.add(message)
                results.skip_cell(key, env_id, agent, message)
                bar.update(1)
                continue
            cell["identity"] = identity
            cell["seed"] = seed
            cell["agent_dir"] = agent_dir.as_posix()
            results.put_cell(key, cell)
            bar.update(1)
        seconds["cells"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name, key in pipeline_keys.items():
            if key not in results.pipelines:
                bar.set_postfix_str(f"pipeline {name}")
                try:
                    result = run_pipeline(name, out, quick_pipelines, seed, progress)
                    results.put_pipeline(key, {"name": name, "seed": seed, "size": size, **result})
                except (MissingDependency, PipelineUnavailable) as err:
                    message = str(err).splitlines()[0]
                    _say(f"skipped pipeline {name}: {message}")
                    results.skip_pipeline(key, name, message)
            bar.update(1)
        seconds["pipelines"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name, key in perf_keys.items():
            if key not in results.perf:
                bar.set_postfix_str(f"perf {name}")
                results.put_perf(key, name, perf_size, run_measurement(name, quick_perf))
            bar.update(1)
        seconds["perf"] = time.perf_counter() - t0
    meta["log_records"] = log.records
    meta["seconds_by_part"] = seconds
    meta["seconds"] = time.perf_counter() - started
    results.save()
    write_report(results, out)
    if log.records:
        _say(f"{log.records} library warning(s)/log message(s) of this run are in {out / 'bench.log'}")
    _say(f"suite {suite.name} took {meta['seconds'] / 60:.1f} min")
    return results


def _say_other_settings(results: ResultsFile, cells: list[tuple[str, dict[str, Any], Any, Any]]) -> None:
    """One message when cells of this run are stored under other settings (they are recomputed, not shown)."""
    changes: dict[str, list[str]] = {}
    for key, identity, _, _ in cells:
        if results.has_cell(key):
            continue
        for old in results.other_settings(identity):
            changes.setdefault(describe_change(old, identity), []).append(f"{identity['env_id']}|{identity['agent']}")
    for change, names in changes.items():
        _say(f"results.json holds {len(names)} cell(s) of this suite under other settings ({change}): computing them "
             "for this run's settings; the old cells stay in results.json and are not shown in results.md")

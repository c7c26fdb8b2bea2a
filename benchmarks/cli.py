"""``vpt-gym bench`` (also ``python -m benchmarks``): run a benchmark suite and write its report."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from vpt_gym.number_checks import number_type
from vpt_gym.user_errors import UsageError, run_command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", default="smoke", help="suite name (default: smoke); --list shows them")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument("--agent", action="append", dest="agents", help="only this agent (repeatable)")
    parser.add_argument("--tasks", nargs="+", help="only these env ids")
    parser.add_argument("--episodes", type=number_type(integer=True, minimum=1), help="episodes per (task, agent) cell")
    parser.add_argument("--seed", type=number_type(integer=True, minimum=0), default=0, help="base seed of the episodes (default 0)")
    parser.add_argument("--workers", type=number_type(integer=True, minimum=1), default=1, help="subprocesses per vector env (default 1)")
    parser.add_argument("--out", default="bench-out/{suite}", help="output directory (resumes if it exists)")
    parser.add_argument("--full-perf", action="store_true", help="longer, more precise perf measurements")
    parser.add_argument("--no-videos", action="store_true", help="do not record episode videos")
    parser.add_argument("--genrl-checkpoint", action="append", default=[], metavar="DOMAIN=PATH or DIR",
                        help="world model for the genrl agent: an official GenRL .pt or a vpt-gym .safetensors "
                        "per domain (repeatable), or a directory with <domain>.pt / genrl_<domain>_*.pt")
    parser.add_argument("--vlm", help="VLM for the genrl and vlm-ppo agents: a name (clip, siglip, xclip, "
                        "optionally name:DIR) or a model directory; needs the vlm extra (pip install -e \".[vlm]\") and weights")
    parser.add_argument("--vpt-model", default="foundation-model-1x",
                        help="VPT model for the vpt agent: a released name or a checkpoint path")
    parser.add_argument("--set", action="append", default=[], dest="settings", metavar="AGENT.KEY=VALUE",
                        help="override a trained agent's setting, e.g. --set vlm-ppo.timesteps=20000 (repeatable)")


def parse_checkpoints(values: Sequence[str]) -> dict[str, str]:
    """``["walker=/m/w.pt", "/models"]`` -> ``{"walker": "/m/w.pt", "*": "/models"}`` (a bare path is a directory)."""
    out: dict[str, str] = {}
    for value in values:
        domain, sep, path = value.partition("=")
        if not sep:
            domain, path = "*", value
        if not domain or not path:
            raise UsageError(f"--genrl-checkpoint expects DOMAIN=PATH or a directory, got {value!r}")
        if domain in out:
            raise UsageError(f"--genrl-checkpoint given twice for {domain!r}")
        out[domain] = path
    return out


def parse_settings(values: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["vlm-ppo.timesteps=2000", "genrl.config=small"]`` -> ``{"vlm-ppo": {"timesteps": 2000}, ...}``.

    Values are read as JSON when they parse (numbers, true/false), else kept as strings.
    """
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        agent, dot, name = key.partition(".")
        if not sep or not dot or not agent or not name:
            raise UsageError(f"--set expects AGENT.KEY=VALUE (e.g. vlm-ppo.timesteps=20000), got {value!r}")
        try:
            parsed: Any = json.loads(raw)
        except json.JSONDecodeError:
            parsed = raw
        out.setdefault(agent, {})[name] = parsed
    return out


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from benchmarks.agents import AGENTS, AgentOptions
    from benchmarks.runner import run_suite
    from benchmarks.suites import SUITES, get_suite

    if args.list:
        for suite in SUITES.values():
            print(f"{suite.name:12s} {suite.description}")
        return 0
    try:
        suite = get_suite(args.suite)
    except KeyError as err:
        raise UsageError(err.args[0]) from None
    settings = parse_settings(args.settings)
    unknown = sorted(set(settings) - set(AGENTS))
    if unknown:
        raise UsageError(f"--set names unknown agent(s) {unknown}; valid agents: {', '.join(AGENTS)}")
    options = AgentOptions(genrl_checkpoints=parse_checkpoints(args.genrl_checkpoint), vlm=args.vlm,
                           vpt_model=args.vpt_model, settings=settings, progress=True)
    out = args.out.format(suite=suite.name)
    results = run_suite(
        suite, out, tasks=args.tasks, agents=args.agents, episodes=args.episodes, seed=args.seed,
        workers=args.workers, quick_perf=not args.full_perf, videos=not args.no_videos, options=options,
    )
    print(f"report: {os.path.join(out, 'results.md')}")
    if results.nothing_evaluated():
        print(f"vpt-gym bench: nothing was evaluated: every cell and pipeline of suite {suite.name!r} was skipped "
              "(the reasons are above and in the report)", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_command("python -m benchmarks", run, parser.parse_args(argv))

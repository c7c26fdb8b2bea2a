"""``vpt-gym bench`` (also ``python -m benchmarks``): run a benchmark suite and write its report."""
from __future__ import annotations

import argparse
import os
from typing import Sequence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", default="smoke", help="suite name (default: smoke); --list shows them")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument("--agent", action="append", dest="agents", help="only this agent (repeatable)")
    parser.add_argument("--tasks", nargs="+", help="only these env ids")
    parser.add_argument("--episodes", type=int, help="episodes per (task, agent) cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="subprocesses per vector env (default 1)")
    parser.add_argument("--out", default="bench-out/{suite}", help="output directory (resumes if it exists)")
    parser.add_argument("--full-perf", action="store_true", help="longer, more precise perf measurements")
    parser.add_argument("--no-videos", action="store_true")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from benchmarks.runner import run_suite
    from benchmarks.suites import SUITES, get_suite

    if args.list:
        for suite in SUITES.values():
            print(f"{suite.name:12s} {suite.description}")
        return 0
    suite = get_suite(args.suite)
    out = args.out.format(suite=suite.name)
    run_suite(
        suite, out, tasks=args.tasks, agents=args.agents, episodes=args.episodes, seed=args.seed,
        workers=args.workers, quick_perf=not args.full_perf, videos=not args.no_videos,
    )
    print(f"report: {os.path.join(out, 'results.md')}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))

"""The ``vpt-gym`` command line.

Subcommands register themselves in :data:`COMMANDS`; each is a function ``(argparse.Namespace) -> int``
with an ``add_arguments(parser)`` companion, so a new command is one small module. A user error (a missing
directory, a file that is not a checkpoint, missing weights: :mod:`vpt_gym.user_errors`) prints one line to
stderr and exits with status 2; ``vpt-gym --version`` prints the version.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from vpt_gym.registration import ENV_TABLE
from vpt_gym.user_errors import UsageError, run_command


def _envs_add_arguments(parser: argparse.ArgumentParser) -> None:
    families = sorted({entry.family for entry in ENV_TABLE})
    parser.add_argument("--family", default=None, help=f"only this family ({', '.join(families)})")


def _envs_run(args: argparse.Namespace) -> int:
    families = sorted({entry.family for entry in ENV_TABLE})
    if args.family is not None and args.family not in families:
        raise UsageError(f"--family {args.family!r:.100}: expected one of {families}")
    for entry in ENV_TABLE:
        if args.family is None or entry.family == args.family:
            limit = entry.max_episode_steps if entry.max_episode_steps is not None else "-"
            print(f"{entry.id:50s} {entry.family:8s} max_episode_steps={limit}")
    return 0


def _bench_add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.cli import add_arguments

    add_arguments(parser)


def _bench_run(args: argparse.Namespace) -> int:
    from benchmarks.cli import run

    return run(args)


def _idm_add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.vpt.cli import idm_add_arguments

    idm_add_arguments(parser)


def _idm_run(args: argparse.Namespace) -> int:
    from agents.vpt.cli import idm_run

    return idm_run(args)


def _bc_add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.vpt.cli import bc_add_arguments

    bc_add_arguments(parser)


def _bc_run(args: argparse.Namespace) -> int:
    from agents.vpt.cli import bc_run

    return bc_run(args)


# name -> (help, add_arguments, run)
def _genrl_decode_add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.genrl.cli import decode_add_arguments

    decode_add_arguments(parser)


def _genrl_decode_run(args: argparse.Namespace) -> int:
    from agents.genrl.cli import decode_run

    return decode_run(args)


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "envs": ("list the registered environment ids", _envs_add_arguments, _envs_run),
    "bench": ("run a benchmark suite and write its report", _bench_add_arguments, _bench_run),
    "idm": ("train, evaluate and pseudo-label with VPT's inverse dynamics model", _idm_add_arguments, _idm_run),
    "bc": ("behavioural cloning / fine-tuning of a VPT policy on labelled video", _bc_add_arguments, _bc_run),
    "genrl-decode": ("decode what a trained GenRL connector understood of a text or video prompt into a GIF/MP4",
                     _genrl_decode_add_arguments, _genrl_decode_run),
}


def build_parser() -> argparse.ArgumentParser:
    from vpt_gym import __version__

    parser = argparse.ArgumentParser(prog="vpt-gym", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        add_arguments(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(f"vpt-gym {args.command}", args._run, args)


if __name__ == "__main__":
    sys.exit(main())

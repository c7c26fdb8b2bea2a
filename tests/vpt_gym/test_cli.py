"""The command lines: a user error is one line on stderr and exit status 2 (no traceback); ``--version``; every
flag of ``vpt-gym`` and of every ``python -m`` entry point that takes flags has help text."""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import vpt_gym
from vpt_gym.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vpt_gym", "agents", "wrappers", "benchmarks")


def _episode_store(root: Path) -> Path:
    from agents.genrl.episodes import EpisodeStore

    store = EpisodeStore(root)
    n = 9
    store.add({"observation": np.zeros((n, 3, 64, 64), np.uint8), "action": np.zeros((n, 2), np.float32),
               "reward": np.zeros((n, 1), np.float32), "discount": np.ones((n, 1), np.float32),
               "is_first": np.arange(n) == 0, "is_last": np.arange(n) == n - 1, "is_terminal": np.zeros(n, bool)})
    return root


def _garbage(path: Path) -> Path:
    path.write_bytes(os.urandom(64))
    return path


# (id, argv from tmp_path, expected part of the message); a missing path is tmp_path / "missing"
VPT_GYM_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("envs-unknown-family", lambda t: ["envs", "--family", "nope"], "expected one of"),
    ("bench-unknown-suite", lambda t: ["bench", "--suite", "nope", "--out", str(t / "b")], "Unknown suite 'nope'"),
    ("bench-bad-set", lambda t: ["bench", "--set", "timesteps", "--out", str(t / "b")], "AGENT.KEY=VALUE"),
    ("idm-train-missing-dir", lambda t: ["idm", "train", str(t / "missing"), str(t / "o"), "--no-progress"],
     "does not exist"),
    ("idm-eval-missing-idm", lambda t: ["idm", "eval", str(t), "--idm", str(t / "missing")], "missing"),
    ("idm-label-stride-above-window", lambda t: ["idm", "label", str(t), "--idm", "x", "--window", "8", "--stride", "16"],
     "--stride (16) must not exceed --window (8)"),
    ("idm-label-bad-checkpoint", lambda t: ["idm", "label", str(t), "--idm", str(_garbage(t / "idm.weights"))],
     "no idm.model beside it"),
    ("bc-train-missing-dir", lambda t: ["bc", "train", str(t / "missing"), str(t / "o"), "--no-progress"],
     "does not exist"),
    ("genrl-decode-missing-checkpoint", lambda t: ["genrl-decode", "--checkpoint", str(t / "missing"), "--prompt", "x",
                                                   "--out", str(t / "a.gif")], "does not exist"),
    ("genrl-decode-bad-checkpoint", lambda t: ["genrl-decode", "--checkpoint", str(_garbage(t / "c.safetensors")),
                                               "--prompt", "x", "--out", str(t / "a.gif")], "not a readable"),
]  # fmt: skip


def test_every_subcommand_has_a_bad_input_case(tmp_path: Path) -> None:
    covered = {argv(tmp_path)[0] for _, argv, _ in VPT_GYM_CASES}
    assert covered == set(vpt_gym.cli.COMMANDS), "add a bad-input case for each new vpt-gym command"


def _assert_one_line_error(rc: int, err: str, prog: str, expected: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: ") and expected in lines[0], err


@pytest.mark.parametrize("argv, expected", [pytest.param(a, e, id=i) for i, a, e in VPT_GYM_CASES])
def test_a_user_error_is_one_line_and_status_2(argv, expected, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = argv(tmp_path)
    rc = main(args)
    prog = "genrl-decode" if args[0] == "genrl-decode" else f"vpt-gym {args[0]}"
    _assert_one_line_error(rc, capsys.readouterr().err, prog, expected)
    assert not (tmp_path / "missing").exists()  # a failed command creates nothing in the user's name


MODULE_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("agents.genrl.embeddings", lambda t: [str(t / "missing")], "does not exist"),
    ("agents.genrl.embeddings", lambda t: [str(t / "empty")], "no episodes"),
    ("agents.genrl.embeddings", lambda t: [str(_episode_store(t / "eps")), "--vlm", f"clip:{t / 'no-weights'}"],
     "not on this machine"),
    ("agents.genrl.embeddings", lambda t: [str(_episode_store(t / "eps")), "--vlm", "bogus"], "unknown VLM"),
    ("agents.genrl.train_world_model", lambda t: ["--data-dir", str(t / "missing"), "--run-dir", str(t / "r")],
     "does not exist"),
    ("agents.genrl.cli", lambda t: ["--checkpoint", str(_garbage(t / "c.safetensors")), "--prompt", "x",
                                    "--out", str(t / "a.gif")], "not a readable"),
    ("benchmarks.cli", lambda t: ["--suite", "nope"], "Unknown suite"),
]  # fmt: skip


@pytest.mark.parametrize("module, argv, expected", [pytest.param(m, a, e, id=f"{m}-{i}")
                                                    for i, (m, a, e) in enumerate(MODULE_CASES)])
def test_python_m_entry_points_report_user_errors_in_one_line(module, argv, expected, tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    rc = importlib.import_module(module).main(argv(tmp_path))
    prog = {"agents.genrl.cli": "genrl-decode", "benchmarks.cli": "python -m benchmarks"}.get(module, f"python -m {module}")
    _assert_one_line_error(rc, capsys.readouterr().err, prog, expected)
    assert not (tmp_path / "missing").exists()


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "vpt_gym.cli", "bc", "train", str(tmp_path / "missing"),
                           str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    _assert_one_line_error(done.returncode, done.stderr, "vpt-gym bc", "does not exist")


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise TypeError("a bug")

    monkeypatch.setitem(vpt_gym.cli.COMMANDS, "envs", ("list", vpt_gym.cli._envs_add_arguments, broken))
    with pytest.raises(TypeError, match="a bug"):
        main(["envs"])


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"vpt-gym {vpt_gym.__version__}"


# ---------------------------------------------------------------------------------------- help of every flag


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def entry_point_modules() -> list[str]:
    """Every module of the package with a ``python -m`` entry point that parses flags (found in the source)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if path.name != "__main__.py" and "ArgumentParser(" in text and '__name__ == "__main__"' in text:
                found.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def _parser_of(module: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser ``module.main`` builds, caught when it starts parsing (nothing else of main runs)."""

    def catch(self: argparse.ArgumentParser, args=None, namespace=None):
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    main_function = importlib.import_module(module).main
    with pytest.raises(_Parsed) as caught:
        main_function([]) if inspect.signature(main_function).parameters else main_function()
    return caught.value.parser


def undocumented_options(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    """``"prog sub --flag"`` for every argument or subcommand of ``parser`` (recursively) without help text.
    ``help=argparse.SUPPRESS`` (a deliberately hidden internal flag) counts as documented."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not (helps.get(name) or "").strip():
                    missing.append(f"{prefix} {name} (subcommand)")
                missing += undocumented_options(sub, f"{prefix} {name}")
        elif not (action.help or "").strip():
            missing.append(f"{prefix} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_the_entry_point_search_finds_the_known_commands() -> None:
    modules = entry_point_modules()
    for known in ("agents.genrl.embeddings", "agents.genrl.train_world_model", "benchmarks.genrl_end_to_end",
                  "benchmarks.kl_finetune", "vpt_gym.cli"):
        assert known in modules


def test_every_vpt_gym_flag_has_help() -> None:
    assert undocumented_options(build_parser(), "vpt-gym") == []


@pytest.mark.parametrize("module", [m for m in entry_point_modules() if m != "vpt_gym.cli"])
def test_every_flag_of_every_python_m_entry_point_has_help(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = _parser_of(module, monkeypatch)
    assert [a for a in parser._actions if a.option_strings != ["-h", "--help"]], f"{module}: no flags found"
    assert undocumented_options(parser, f"python -m {module}") == []


def test_the_help_check_catches_a_flag_without_help() -> None:
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--documented", help="yes")
    sub = parser.add_subparsers().add_parser("run", help="runs")
    sub.add_argument("--bare")
    assert undocumented_options(parser, "p") == ["p run --bare"]

"""benchmarks/dataclass_flags.py: one flag per settings field; only the flags given override the preset."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Optional

import pytest

from benchmarks.dataclass_flags import add_flags, overrides


@dataclass
class Settings:
    task: str = "walker-stand"
    steps: int = 100
    lr: float = 3e-4
    progress: bool = True
    eval_task: Optional[str] = None


def parse(argv):
    parser = argparse.ArgumentParser()
    add_flags(parser, Settings(), types={"eval_task": str})
    parser.add_argument("--tiny", action="store_true")
    return parser.parse_args(argv)


def test_only_given_flags_are_overrides_and_are_parsed_with_the_fields_types():
    assert overrides(parse([]), Settings()) == {}
    ns = parse(["--steps", "7", "--lr", "1e-3", "--no-progress", "--eval-task", "walker_walk", "--tiny"])
    assert overrides(ns, Settings()) == {"steps": 7, "lr": 1e-3, "progress": False, "eval_task": "walker_walk"}
    assert overrides(parse(["--progress"]), Settings()) == {"progress": True}


def test_a_wrongly_typed_value_is_refused_by_argparse():
    with pytest.raises(SystemExit):
        parse(["--steps", "many"])


@dataclass
class Documented:
    """:param steps: updates. :param progress: show a progress bar."""

    steps: int = 100
    progress: bool = True


def test_each_flag_gets_its_fields_doc_and_preset_value_as_help():
    parser = argparse.ArgumentParser()
    add_flags(parser, Documented())
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["steps"] == "updates (default 100)"
    assert helps["progress"] == "show a progress bar (default True)"
    assert "updates (default 100)" in parser.format_help()  # formats (no stray % in the text)


def test_the_benchmarks_dataclass_flags_all_have_help():
    from benchmarks.genrl_end_to_end import Args
    from benchmarks.kl_finetune import Config

    for settings in (Args(), Config()):
        parser = argparse.ArgumentParser()
        add_flags(parser, settings)
        assert all(a.help for a in parser._actions), type(settings)
@pytest.mark.parametrize("argv, message", [
    (["--lr", "nan"], "--lr must be a finite number >= 0; got nan"),
    (["--lr=-inf"], "--lr must be a finite number >= 0; got -inf"),
    (["--steps", "-5"], "--steps must be an integer >= 0; got -5"),
])
def test_numbers_that_would_train_to_nan_or_do_nothing_are_refused(argv, message):
    with pytest.raises(ValueError, match=message):
        overrides(parse(argv), Settings())

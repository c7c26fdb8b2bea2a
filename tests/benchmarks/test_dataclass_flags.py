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


@pytest.mark.parametrize("argv, message", [
    (["--lr", "nan"], "--lr must be a finite number >= 0; got nan"),
    (["--lr=-inf"], "--lr must be a finite number >= 0; got -inf"),
    (["--steps", "-5"], "--steps must be an integer >= 0; got -5"),
])
def test_numbers_that_would_train_to_nan_or_do_nothing_are_refused(argv, message):
    with pytest.raises(ValueError, match=message):
        overrides(parse(argv), Settings())

"""vpt_gym/number_checks.py: one rule for numeric settings, as a check and as an argparse type."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from vpt_gym.number_checks import check_number, number_type


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "1", None, True, 1 + 2j])
def test_non_finite_or_non_real_values_are_refused(value):
    with pytest.raises(ValueError, match="x must be a finite number"):
        check_number("x", value)


def test_bounds_integers_and_optional():
    check_number("x", np.float32(0.5), minimum=0, below=1)
    check_number("n", np.int64(3), integer=True, minimum=1)
    check_number("n", None, integer=True, optional=True)
    with pytest.raises(ValueError, match=r"n must be an integer >= 1; got 2.0"):
        check_number("n", 2.0, integer=True, minimum=1)
    with pytest.raises(ValueError, match=r"x must be a finite number > 0 and <= 1; got 0"):
        check_number("x", 0, above=0, maximum=1)
    with pytest.raises(ValueError, match=r"got 10{56}\.\.\.$"):  # a huge value is shown bounded
        check_number("x", 10**1000, maximum=1)


def test_argparse_type_exits_2_naming_the_flag(capsys):
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--clip", type=number_type(above=0))
    assert parser.parse_args(["--clip", "0.5"]).clip == 0.5
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--clip", "nan"])
    assert info.value.code == 2
    assert "argument --clip: must be a finite number > 0; got 'nan'" in capsys.readouterr().err

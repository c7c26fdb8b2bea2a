"""Range checks for numeric settings: one rule, used by settings dataclasses (``__post_init__``) and as
argparse ``type=`` functions, so ``--max-grad-norm nan`` or ``--steps -5`` is refused before anything runs.

Example::

    >>> check_number("max_grad_norm", 5.0, above=0)
    >>> check_number("max_grad_norm", float("nan"), above=0)
    Traceback (most recent call last):
    ...
    ValueError: max_grad_norm must be a finite number > 0; got nan
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("--lr", type=number_type(above=0), default=1e-3)
    >>> parser.parse_args(["--lr", "0.01"]).lr
    0.01
"""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Callable
from typing import Any

__all__ = ["check_number", "number_type"]


def _rule(integer: bool, minimum: float | None, maximum: float | None, above: float | None,
          below: float | None = None) -> str:  # fmt: skip
    parts = [f">= {minimum}" if minimum is not None else "", f"> {above}" if above is not None else "",
             f"<= {maximum}" if maximum is not None else "", f"< {below}" if below is not None else ""]  # fmt: skip
    bounds = " and ".join(p for p in parts if p)
    return ("an integer" if integer else "a finite number") + (f" {bounds}" if bounds else "")


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    optional: bool = False,
) -> None:
    """Raise ``ValueError`` naming ``name``, the rule and the value unless ``value`` is a finite real number
    (an integer when ``integer``) within the bounds.

    :param minimum: smallest allowed value. :param maximum: largest allowed value.
    :param above: values must be strictly greater than this. :param below: ... strictly smaller.
    :param optional: ``None`` is allowed.
    """
    if value is None and optional:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, numbers.Integral)
    if ok and not isinstance(value, numbers.Integral):  # integers are finite (and may not fit a float)
        ok = math.isfinite(value)
    if ok:
        ok = (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
        ok = ok and (above is None or value > above) and (below is None or value < below)
    if not ok:
        try:
            shown = repr(value)
        except ValueError:  # an int with more digits than Python converts to text
            shown = f"<an integer of {value.bit_length()} bits>"
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ValueError(f"{name} must be {_rule(integer, minimum, maximum, above, below)}; got {shown}")


def number_type(
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses an int (``integer``) or float and applies :func:`check_number`'s
    rule; argparse turns a refusal into ``error: argument --x: must be ...`` and exit status 2."""

    rule = _rule(integer, minimum, maximum, above, below)

    def parse(text: str) -> Any:
        try:
            value = int(text) if integer else float(text)
            check_number("value", value, integer=integer, minimum=minimum, maximum=maximum, above=above, below=below)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text[:60]!r}") from None
        return value

    parse.__name__ = "integer" if integer else "number"  # argparse names the type in some messages
    return parse

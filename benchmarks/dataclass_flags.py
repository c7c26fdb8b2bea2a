"""Command-line flags from a settings dataclass: one ``--field-name`` per field, unset flags keep the preset.

Each flag's help is the field's documentation (``metadata["help"]`` or the class docstring's ``:param name:``,
:func:`vpt_gym.field_docs.field_help`) followed by its preset value.

Example::

    >>> import argparse
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Settings:
    ...     ''':param steps: updates. :param progress: show a progress bar.'''
    ...     steps: int = 100
    ...     progress: bool = True
    >>> parser = argparse.ArgumentParser()
    >>> add_flags(parser, Settings())
    >>> ns = parser.parse_args(["--steps", "5", "--no-progress"])
    >>> Settings(**{**vars(Settings()), **overrides(ns, Settings())})
    Settings(steps=5, progress=False)
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from vpt_gym.field_docs import field_help
from vpt_gym.number_checks import check_number

__all__ = ["add_flags", "check_flag_value", "overrides"]


def add_flags(parser: argparse.ArgumentParser, defaults: Any, types: Mapping[str, type] | None = None) -> None:
    """Add ``--field-name`` for every field of the dataclass instance ``defaults``, with default ``None``
    (so :func:`overrides` tells set flags from unset ones): booleans as ``--x/--no-x``, others parsed with
    ``types[name]`` or the type of the field's default value.

    :param parser: the parser to extend.
    :param defaults: an instance of the settings dataclass.
    :param types: parse types for fields whose default does not show it (e.g. a default of ``None``).
    """
    types = types or {}
    docs = field_help(defaults)
    for name, value in dataclasses.asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        shown = str(value).replace("%", "%%")
        text = f"{docs[name].rstrip('.')} (default {shown})" if name in docs else None
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            parser.add_argument(flag, type=types.get(name, type(value)), default=None, help=text)


def overrides(ns: argparse.Namespace, defaults: Any) -> dict[str, Any]:
    """The fields of ``defaults``' dataclass that were set on the command line, with their values (each
    number checked by :func:`check_flag_value`)."""
    names = {f.name for f in dataclasses.fields(defaults)}
    values = {k: v for k, v in vars(ns).items() if k in names and v is not None}
    for name, value in values.items():
        check_flag_value(name, value)
    return values


def check_flag_value(name: str, value: Any) -> None:
    """Every numeric benchmark setting is a count, a rate, a coefficient or a seed: refuse NaN, infinities
    and negative values (``--kl-coef nan`` would otherwise train to NaN and report it).

    :raises ValueError: naming the flag, e.g. ``--kl-coef must be a finite number >= 0; got nan``.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        check_number("--" + name.replace("_", "-"), value, integer=isinstance(value, int), minimum=0)

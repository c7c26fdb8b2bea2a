"""Per-field help text of a settings dataclass, for command-line flags generated from its fields.

A field's text is its ``metadata["help"]`` if it has one, else the ``:param name:`` entry of the class
docstring (``:param a, b: text`` documents both). Sphinx markup is dropped (double backticks, ``:role:`` names)
and ``%`` is escaped, so the text can go straight into ``argparse``'s ``help=``.

Example::

    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Settings:
    ...     '''Settings. :param steps: updates (``--steps``). :param lr, wd: AdamW's values.'''
    ...     steps: int = 100
    ...     lr: float = 1e-3
    ...     wd: float = 0.0
    ...     tag: str = field(default="x", metadata={"help": "a name, 100% free"})
    >>> field_help(Settings)
    {'steps': 'updates (--steps).', 'lr': "AdamW's values.", 'wd': "AdamW's values.", 'tag': 'a name, 100%% free'}
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

__all__ = ["field_help"]

_PARAM = re.compile(r":param\s+([\w\s,]+?):(.*?)(?=:param\s|:return|:raises|\Z)", re.DOTALL)


def _plain(text: str) -> str:
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)  # :class:`X` -> X
    text = text.replace("``", "")
    return " ".join(text.split()).replace("%", "%%")


def field_help(cls: Any) -> dict[str, str]:
    """``{field name: help text}`` for the fields of the dataclass (or instance) ``cls`` that are documented.

    :param cls: a dataclass type or instance.
    :return: one entry per documented field, in field order; undocumented fields are absent.
    """
    cls = cls if isinstance(cls, type) else type(cls)
    documented: dict[str, str] = {}
    for names, text in _PARAM.findall(inspect.getdoc(cls) or ""):
        for name in names.split(","):
            documented.setdefault(name.strip(), _plain(text))
    out: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        text = f.metadata.get("help")
        text = _plain(text) if text else documented.get(f.name, "")
        if text:
            out[f.name] = text
    return out

"""vpt_gym/field_docs.py: help text of dataclass fields from metadata or the class docstring."""
from __future__ import annotations

from dataclasses import dataclass, field

from vpt_gym.field_docs import field_help


@dataclass
class Settings:
    """Settings.

    :param steps: updates of :class:`~agents.X` (``--steps``),
        over two lines.
    :param lr, wd: AdamW's values. :param tag: overridden by metadata.
    :return: nothing to see here.
    """

    steps: int = 100
    lr: float = 1e-3
    wd: float = 0.0
    tag: str = field(default="x", metadata={"help": "a 100% free ``name``"})
    undocumented: int = 0


def test_docstring_params_metadata_and_markup() -> None:
    assert field_help(Settings) == {
        "steps": "updates of agents.X (--steps), over two lines.",
        "lr": "AdamW's values.",
        "wd": "AdamW's values.",
        "tag": "a 100%% free name",  # % escaped for argparse
    }
    assert field_help(Settings()) == field_help(Settings)  # an instance works too

"""Model cards (``README.md``) for the folders ``save_pretrained`` writes: what the model does, how it was
trained, how it scored, and how to load it.

The card is a Hugging Face model card: a YAML header (``library_name``, ``tags``, ``pipeline_tag``,
optional ``license`` / ``base_model``) followed by Markdown. The header is written in YAML's JSON-compatible
flow style, so writing a card needs no YAML library; ``huggingface_hub.ModelCard.load`` reads it back.

Example::

    >>> from agents.model_card import ModelCardInfo
    >>> card = ModelCardInfo(task="walker stand", training={"steps": 1000}, evaluation={"return": 812.5})
    >>> text = card.render(title="GenRL walker", usage="load_pretrained_genrl('me/walker')")
    >>> text.splitlines()[1]
    'library_name: "vpt-gym"'
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.checkpoints import bounded_repr
from vpt_gym.atomic_file import write_atomic

#: the file name a Hub model repository shows as its card.
CARD_FILE = "README.md"
#: longest value printed in a card table (longer ones are cut, with a note).
MAX_VALUE_CHARS = 300


@dataclass(frozen=True)
class ModelCardInfo:
    """What a model card says.

    :param task: what the model does, e.g. ``"MineRL FindCave (vpt_gym/MineRLBasaltFindCave-v0)"``.
    :param training: training settings (hyper-parameters, data, steps), shown as a table.
    :param evaluation: evaluation results (metric -> value), shown as a table; say how they were measured
        in ``description`` or with a key such as ``"episodes"``.
    :param tags: extra Hub tags (``vpt-gym`` and ``reinforcement-learning`` are always added).
    :param description: free text under the title.
    :param license: an SPDX-style licence id for the header (e.g. ``"mit"``), or None.
    :param base_model: the Hub id of the model this one was fine-tuned from, or None.
    :param library_name: the ``library_name`` of the header.
    """

    task: str
    training: Mapping[str, Any] = field(default_factory=dict)
    evaluation: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()
    description: str = ""
    license: str | None = None
    base_model: str | None = None
    library_name: str = "vpt-gym"

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task.strip():
            raise ValueError(f"a model card needs a task (a non-empty string), got {bounded_repr(self.task)}")
        for name in ("training", "evaluation"):
            if not isinstance(getattr(self, name), Mapping):
                raise ValueError(f"ModelCardInfo.{name} must be a mapping, got {type(getattr(self, name)).__name__}")
        if isinstance(self.tags, str) or not all(isinstance(t, str) and t for t in self.tags):
            raise ValueError(f"ModelCardInfo.tags must be a sequence of non-empty strings, got {bounded_repr(self.tags)}")

    def all_tags(self, kind_tags: Sequence[str] = ()) -> list[str]:
        """``vpt-gym``, ``reinforcement-learning``, then ``kind_tags`` and :attr:`tags`, without repeats."""
        tags: list[str] = []
        for tag in ("vpt-gym", "reinforcement-learning", *kind_tags, *self.tags):
            if tag not in tags:
                tags.append(tag)
        return tags

    def render(self, title: str, usage: str = "", files: Mapping[str, str] | None = None,
               kind_tags: Sequence[str] = ()) -> str:
        """The card's text.

        :param title: the heading. :param usage: Python code that loads the model (shown in a code block).
        :param files: ``{file name: what it holds}`` of the folder. :param kind_tags: tags of the model kind.
        """
        header = {"library_name": self.library_name, "tags": self.all_tags(kind_tags),
                  "pipeline_tag": "reinforcement-learning"}
        if self.license:
            header["license"] = self.license
        if self.base_model:
            header["base_model"] = self.base_model
        lines = ["---", *(f"{k}: {json.dumps(v)}" for k, v in header.items()), "---", "", f"# {title}", ""]
        if self.description:
            lines += [self.description.strip(), ""]
        lines += ["## Task", "", self.task.strip(), ""]
        lines += ["## Training settings", "", *_table(self.training, "setting", "No training settings were given."), ""]
        lines += ["## Evaluation results", "", *_table(self.evaluation, "metric", "No evaluation results were given."),
                  ""]
        if files:
            lines += ["## Files", "", *(f"- `{name}`: {what}" for name, what in files.items()), ""]
        if usage:
            lines += ["## Use", "", "```python", usage.strip(), "```", ""]
        lines += ["Written by vpt-gym's `save_pretrained` (safetensors + JSON: loading runs no code from the files).", ""]
        return "\n".join(lines)

    def write(self, directory: str | Path, title: str, usage: str = "", files: Mapping[str, str] | None = None,
              kind_tags: Sequence[str] = ()) -> Path:
        """Write :meth:`render`'s text to ``directory/README.md`` (atomically) and return its path."""
        path = Path(directory) / CARD_FILE
        text = self.render(title, usage, files, kind_tags)
        write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return path


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("|", "\\|").replace("\n", " ")
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 20] + f"... ({len(text)} chars)"
    return text


def _table(rows: Mapping[str, Any], key_name: str, empty: str) -> list[str]:
    if not rows:
        return [empty]
    return [f"| {key_name} | value |", "|---|---|", *(f"| {_cell(str(k))} | {_cell(v)} |" for k, v in rows.items())]

"""The results file of a benchmark run: one JSON document, rewritten atomically after every cell.

Layout::

    {"meta": {...versions, machine, suite...},
     "cells": {"<env id>|<agent>": {"returns": [...], "lengths": [...], "seeds": [...], ...}},
     "perf": {"<measurement>": [rows...]},
     "pipelines": {"<pipeline>": {"table": [Markdown lines], "results": {...}}}}

A cell or a perf measurement that is already in the file is never recomputed, so an interrupted run
resumes where it stopped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vpt_gym.atomic_file import write_atomic


def cell_key(env_id: str, agent: str) -> str:
    return f"{env_id}|{agent}"


class ResultsFile:
    """``results.json`` in ``out_dir``, loaded if present.

    :param out_dir: the run's output directory.
    :param meta: the run's metadata; stored on first write, kept from the file when resuming.
    """

    def __init__(self, out_dir: str | Path, meta: dict[str, Any]) -> None:
        self.path = Path(out_dir) / "results.json"
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ValueError(f"{self.path} is not valid JSON ({err}); move it away to start afresh") from err
        else:
            self.data = {"meta": meta, "cells": {}, "perf": {}}
        self.data.setdefault("cells", {})
        self.data.setdefault("perf", {})
        self.data.setdefault("pipelines", {})

    @property
    def cells(self) -> dict[str, dict[str, Any]]:
        return self.data["cells"]

    @property
    def perf(self) -> dict[str, list[dict[str, Any]]]:
        return self.data["perf"]

    def has_cell(self, key: str, episodes: int) -> bool:
        cell = self.cells.get(key)
        return cell is not None and len(cell.get("returns", [])) >= episodes

    def put_cell(self, key: str, cell: dict[str, Any]) -> None:
        self.cells[key] = cell
        self.save()

    @property
    def pipelines(self) -> dict[str, dict[str, Any]]:
        return self.data["pipelines"]

    def put_pipeline(self, name: str, result: dict[str, Any]) -> None:
        self.pipelines[name] = result
        self.save()

    def put_perf(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.perf[name] = rows
        self.save()

    def save(self) -> None:
        """Write atomically: a temporary file in the same directory, then ``os.replace``."""
        text = json.dumps(self.data, indent=1, sort_keys=True)
        write_atomic(self.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

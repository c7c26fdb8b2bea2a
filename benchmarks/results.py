"""The results file of a benchmark run: one JSON document, rewritten atomically after every cell.

Layout::

    {"meta": {...this run: suite, seed, command, commit, versions, machine, seconds, the keys it shows...},
     "runs": [{...meta of every run on this directory, oldest first...}],
     "cells": {"<cell key>": {"identity": {...}, "returns": [...], "lengths": [...], "seeds": [...], ...}},
     "skipped_cells": {"<cell key>": {"env_id", "agent", "message"}},
     "perf": {"<measurement>|<quick or full>": {"name", "size", "rows": [rows...]}},
     "pipelines": {"<pipeline>|seed=<seed>|<quick or full>": {"name", "seed", "size", "table": [...], "results"}}}

A cell is keyed by everything that changes its result (:func:`cell_identity`: env id, agent, seed, episodes,
env kwargs, agent settings and inputs, env maker, package versions), so a run with other settings on the same
directory computes its own cells instead of showing old ones; cells of other settings stay in the file and
are not shown. A cell, pipeline or perf measurement that is already in the file under its key is never
recomputed, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from vpt_gym.atomic_file import write_atomic


def jsonable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` for results.json: values JSON cannot hold (factories, test doubles) as their ``repr``."""
    out = {}
    for key, value in kwargs.items():
        try:
            json.dumps(value)
            out[key] = value
        except TypeError:
            out[key] = repr(value)
    return out


def cell_identity(env_id: str, agent: str, *, seed: int, episodes: int, env_kwargs: Mapping[str, Any] | None = None,
                  agent_settings: Mapping[str, Any] | None = None, agent_inputs: Mapping[str, Any] | None = None,
                  env_maker: str | None = None, versions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Everything that changes a cell's result, as a JSON-able dict (the cell stores it; its key hashes it).

    :param agent_settings: the agent's training settings (suite data merged with ``--set``).
    :param agent_inputs: the user inputs the agent reads (checkpoints, VLM, VPT model).
    :param env_maker: ``"module:function"`` making the env (None: ``gym.make``).
    :param versions: the package versions the result depends on (:func:`benchmarks.provenance.family_versions`).
    """
    return {"env_id": env_id, "agent": agent, "seed": int(seed), "episodes": int(episodes),
            "env_kwargs": jsonable(env_kwargs or {}), "agent_settings": jsonable(agent_settings or {}),
            "agent_inputs": jsonable(agent_inputs or {}), "env_maker": env_maker or "gymnasium.make",
            "versions": dict(versions or {})}


def cell_key(identity: Mapping[str, Any]) -> str:
    """``"<env id>|<agent>|seed=<seed>|episodes=<n>|<hash of the whole identity>"``."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return f"{identity['env_id']}|{identity['agent']}|seed={identity['seed']}|episodes={identity['episodes']}|{digest}"


def training_dir_name(identity: Mapping[str, Any]) -> str:
    """``"seed<seed>-<hash>"``: the folder of what a trained agent learns for a cell, keyed by the cell's identity
    less its number of evaluation episodes (more episodes reuse the training; another seed, setting, input or
    version trains afresh)."""
    rest = {k: v for k, v in identity.items() if k != "episodes"}
    digest = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:10]
    return f"seed{identity['seed']}-{digest}"


def describe_change(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """What differs between a stored cell's identity and the requested one, e.g. ``"seed 0 -> 1"``."""
    if not old:
        return "made by an older vpt-gym that did not record its settings"
    parts = []
    for field in ("seed", "episodes", "env_kwargs", "agent_settings", "agent_inputs", "env_maker"):
        if old.get(field) != new.get(field):
            parts.append(f"{field.replace('_', ' ')} {old.get(field)!r} -> {new.get(field)!r}")
    old_v, new_v = old.get("versions") or {}, new.get("versions") or {}
    changed = [f"{d} {old_v.get(d)} -> {new_v.get(d)}" for d in sorted(set(old_v) | set(new_v)) if old_v.get(d) != new_v.get(d)]
    if changed:
        parts.append("versions " + ", ".join(changed))
    return "; ".join(parts) or "same settings, other key format"


def task_label(cell: Mapping[str, Any]) -> str:
    """How every table names a cell's task: GenRL's task id (``walker_stand``), else the env id's name
    (``Crafter-v1``); the report's task table maps each to its env id."""
    return cell.get("task") or str(cell.get("env_id", "?")).split("/")[-1]


def pipeline_key(name: str, seed: int, size: str) -> str:
    return f"{name}|seed={int(seed)}|{size}"


def perf_key(name: str, size: str) -> str:
    return f"{name}|{size}"


class ResultsFile:
    """``results.json`` in ``out_dir``, loaded if present.

    :param out_dir: the run's output directory.
    :param meta: this run's metadata: it becomes ``data["meta"]`` and is appended to ``data["runs"]`` (the
        metadata of earlier runs on the directory stays there).
    """

    def __init__(self, out_dir: str | Path, meta: dict[str, Any]) -> None:
        self.path = Path(out_dir) / "results.json"
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ValueError(f"{self.path} is not valid JSON ({err}); move it away to start afresh") from err
            if not isinstance(self.data, dict):
                raise ValueError(f"{self.path} holds a JSON {type(self.data).__name__}, expected an object; "
                                 "move it away to start afresh")
        else:
            self.data = {}
        runs = self.data.setdefault("runs", [])
        if not runs and self.data.get("meta"):  # a file of an older vpt-gym: its one run
            runs.append(self.data["meta"])
        runs.append(meta)
        self.data["meta"] = meta
        for section in ("cells", "perf", "pipelines", "skipped_cells", "skipped_pipelines"):
            self.data.setdefault(section, {})

    @property
    def meta(self) -> dict[str, Any]:
        return self.data["meta"]

    @property
    def cells(self) -> dict[str, dict[str, Any]]:
        return self.data["cells"]

    @property
    def perf(self) -> dict[str, Any]:
        return self.data["perf"]

    @property
    def pipelines(self) -> dict[str, dict[str, Any]]:
        return self.data["pipelines"]

    # ---------------------------------------------------------------------------------------- cells
    def has_cell(self, key: str) -> bool:
        """Whether ``key``'s cell is stored with all its episodes."""
        cell = self.cells.get(key)
        if cell is None:
            return False
        wanted = (cell.get("identity") or {}).get("episodes")
        return wanted is not None and len(cell.get("returns", [])) == wanted

    def other_settings(self, identity: Mapping[str, Any]) -> list[dict[str, Any] | None]:
        """Identities of the stored cells of the same env and agent under other settings (None: a cell of an
        older file that recorded none)."""
        key = cell_key(identity)
        out = []
        for k, cell in self.cells.items():
            if k == key or cell.get("env_id") != identity["env_id"] or cell.get("agent") != identity["agent"]:
                continue
            out.append(cell.get("identity"))
        return out

    def put_cell(self, key: str, cell: dict[str, Any]) -> None:
        self.cells[key] = cell
        self.data["skipped_cells"].pop(key, None)
        self.save()

    def skip_cell(self, key: str, env_id: str, agent: str, message: str) -> None:
        self.data["skipped_cells"][key] = {"env_id": env_id, "agent": agent, "message": message}
        self.save()

    # ---------------------------------------------------------------------------------------- other results
    def put_pipeline(self, key: str, result: dict[str, Any]) -> None:
        self.pipelines[key] = result
        self.data["skipped_pipelines"].pop(key, None)
        self.save()

    def skip_pipeline(self, key: str, name: str, message: str) -> None:
        self.data["skipped_pipelines"][key] = {"name": name, "message": message}
        self.save()

    def put_perf(self, key: str, name: str, size: str, rows: list[dict[str, Any]]) -> None:
        self.perf[key] = {"name": name, "size": size, "rows": rows}
        self.save()

    # ---------------------------------------------------------------------------------------- what this run shows
    def _shown(self, section: str, meta_field: str) -> dict[str, Any]:
        """The entries of ``section`` this run selected (``meta[meta_field]``); all of them when it names none."""
        keys = self.meta.get(meta_field)
        entries = self.data[section]
        if keys is None:  # a file written without a run's selection: everything in the current format
            return {k: v for k, v in entries.items() if isinstance(v, dict)}
        return {k: entries[k] for k in keys if k in entries}

    def shown_cells(self) -> dict[str, dict[str, Any]]:
        return self._shown("cells", "cell_keys")

    def shown_skipped_cells(self) -> dict[str, Any]:
        return self._shown("skipped_cells", "cell_keys")

    def shown_pipelines(self) -> dict[str, dict[str, Any]]:
        return self._shown("pipelines", "pipeline_keys")

    def shown_skipped_pipelines(self) -> dict[str, Any]:
        return self._shown("skipped_pipelines", "pipeline_keys")

    def shown_perf(self) -> dict[str, Any]:
        return self._shown("perf", "perf_keys")

    def find_cell(self, env_id: str, agent: str) -> dict[str, Any] | None:
        """This run's cell of ``env_id`` and ``agent`` (None when it has none)."""
        return next((c for c in self.shown_cells().values() if c.get("env_id") == env_id and c.get("agent") == agent),
                    None)

    def find_skipped(self, env_id: str, agent: str) -> str | None:
        """Why this run skipped the cell of ``env_id`` and ``agent`` (None when it did not)."""
        return next((s["message"] for s in self.shown_skipped_cells().values()
                     if s.get("env_id") == env_id and s.get("agent") == agent), None)

    def find_pipeline(self, name: str) -> dict[str, Any] | None:
        """This run's result of pipeline ``name`` (None when it has none)."""
        return next((p for p in self.shown_pipelines().values() if p.get("name") == name), None)

    def find_skipped_pipeline(self, name: str) -> str | None:
        return next((s["message"] for s in self.shown_skipped_pipelines().values() if s.get("name") == name), None)

    def nothing_evaluated(self) -> bool:
        """True when this run had cells or pipelines to evaluate but every one of them was skipped (also when
        the whole suite was skipped)."""
        if self.meta.get("skipped"):
            return True
        wanted = len(self.meta.get("cell_keys") or []) + len(self.meta.get("pipeline_keys") or [])
        return wanted > 0 and not self.shown_cells() and not self.shown_pipelines()

    def save(self) -> None:
        """Write atomically: a temporary file in the same directory, then ``os.replace``."""
        text = json.dumps(self.data, indent=1, sort_keys=True)
        write_atomic(self.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

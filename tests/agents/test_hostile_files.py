"""Hostile checkpoint files (built by tests/support/hostile_files.py) against every loader we expose.

All cases run in one fresh interpreter under ``RLIMIT_AS`` = its own size + 2.5 GiB, with a wall-clock limit
(a hang fails the test): code payloads must never run (their marker file must not exist, while the controls
show the same payloads DO run when read the unsafe way); bombs must end in a ``CheckpointError`` -- not in a
``MemoryError`` that the limit provoked -- without the process's peak memory growing by more than 256 MiB.
"""
from __future__ import annotations

from tests.support.hostile_files import CASES, MARKER, run_batch


def _run(tmp_path, names):
    for name in names:
        (tmp_path / name).mkdir()
        CASES[name].build(tmp_path / name)
    return {row["case"]: row for row in run_batch(tmp_path, names)}


def _check(rows):
    problems = []
    for name, row in rows.items():
        case = CASES[name]
        if case.kind == "control":
            if not row["marker"]:
                problems.append(f"{name}: the control did not run its payload (the payload is dead)")
            continue
        if row["marker"]:
            problems.append(f"{name}: CODE RAN (marker {MARKER} exists)")
        if row["outcome"] != "refused":
            problems.append(f"{name}: {row['outcome']}: {row['error']}")
        elif "MemoryError" in row["error"] or "can't allocate" in row["error"]:
            problems.append(f"{name}: refused only because the memory limit was hit: {row['error']}")
        elif case.kind == "bomb" and row["extra_mib"] > 256:
            problems.append(f"{name}: peak memory grew by {row['extra_mib']} MiB")
    assert not problems, "\n".join(problems)


def test_hostile_files_are_refused_without_running_code_or_exhausting_memory(tmp_path):
    _check(_run(tmp_path, list(CASES)))


def test_every_loader_kind_is_covered():
    kinds = {c.kind for c in CASES.values()}
    assert kinds == {"code", "control", "bomb"}
    assert sum(c.kind == "code" for c in CASES.values()) >= 5

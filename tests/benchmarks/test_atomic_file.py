"""benchmarks/atomic_file.py: a file appears whole or not at all."""

from __future__ import annotations

import pytest

from benchmarks.atomic_file import write_atomic


def test_writes_through_a_temporary_file_with_the_same_suffix(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path / "sub" and tmp.suffix == ".npz" and tmp != tmp_path / "sub" / "demos.npz"
        tmp.write_bytes(b"data")

    write_atomic(tmp_path / "sub" / "demos.npz", write)
    assert (tmp_path / "sub" / "demos.npz").read_bytes() == b"data"
    assert not seen[0].exists() and [p.name for p in (tmp_path / "sub").iterdir()] == ["demos.npz"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")

    def fail(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["result.json"]

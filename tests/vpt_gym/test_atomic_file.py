"""vpt_gym/atomic_file.py: a file appears whole or not at all."""

from __future__ import annotations

import pytest

from vpt_gym.atomic_file import write_atomic


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


def test_durable_write_fsyncs_the_file_and_its_directory(tmp_path, monkeypatch):
    import os

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    write_atomic(tmp_path / "ckpt.bin", lambda tmp: tmp.write_bytes(b"x"), durable=True)
    assert (tmp_path / "ckpt.bin").read_bytes() == b"x"
    assert len(synced) == 2  # the temporary file before the rename, the directory after it

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


def test_directory_replaced_whole_and_a_failed_write_keeps_the_old_one(tmp_path):
    from vpt_gym.atomic_file import replace_directory_atomic

    out = tmp_path / "model"
    replace_directory_atomic(out, lambda d: (d / "a.txt").write_text("1"), durable=True)
    replace_directory_atomic(out, lambda d: (d / "b.txt").write_text("2"))
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]

    def fail(d):
        (d / "c.txt").write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        replace_directory_atomic(out, fail)
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"] and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_threads_writing_the_same_file_never_share_a_temporary(tmp_path):
    import threading

    from vpt_gym.atomic_file import temporary_path

    names, barrier = [], threading.Barrier(4)

    def name() -> None:
        names.append(temporary_path(tmp_path / "x.json"))
        barrier.wait()  # all four alive at once (a finished thread's id may be reused)

    threads = [threading.Thread(target=name) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 4 and all(n.name.startswith(".x.tmp-") and n.suffix == ".json" for n in names)

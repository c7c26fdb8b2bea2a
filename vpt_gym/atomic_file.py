"""Write a file atomically: readers and resumed runs never see a partial file.

The one temporary-file-then-rename writer of the package. It lives in the lowest layer (``vpt_gym``) so
that ``wrappers``, ``agents`` and ``benchmarks`` can all use it.

Example::

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "result.json"
    >>> write_atomic(path, lambda tmp: tmp.write_text(json.dumps({"score": 1.0})))
    >>> json.loads(path.read_text())
    {'score': 1.0}
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["commit", "fsync_directory", "fsync_tree", "replace_directory_atomic", "temporary_path", "write_atomic"]


def fsync_directory(directory: str | Path) -> None:
    """Flush a directory entry to disk so that a rename inside it survives a power loss (no-op where the
    platform cannot open directories)."""
    try:
        fd = os.open(str(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unique() -> str:
    """Names a temporary file or directory of this process and thread (two threads writing the same path
    at once never share a temporary)."""
    return f"{os.getpid()}-{threading.get_ident()}"


def fsync_tree(directory: str | Path) -> None:
    """Flush every file and directory under ``directory`` (and the directory itself) to disk."""
    directory = Path(directory)
    for root, _dirs, files in os.walk(directory, topdown=False):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        fsync_directory(root)


def write_atomic(path: str | Path, write: Callable[[Path], Any], *, durable: bool = False) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path`` (same suffix, so writers that infer the
    format from it work), then rename it onto ``path``. If ``write`` fails, the temporary file is removed
    and ``path`` keeps what it had.

    :param path: the file to write; its directory is created if needed.
    :param write: writes the whole file to the path it is given.
    :param durable: fsync the temporary file before the rename and the directory after it, so that the
        new file (not an empty or torn one) is what a machine crash leaves; use it for checkpoints.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        commit(tmp, path, durable=durable)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temporary_path(path: str | Path) -> Path:
    """The hidden temporary file :func:`write_atomic` writes before renaming it onto ``path``:
    ``.<stem>.tmp-<pid>-<thread><suffix>`` beside it (same suffix, so writers that infer the format from
    it work). Readers that list a directory should skip names starting with ``"."``."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{_unique()}{path.suffix}")


def commit(tmp: str | Path, path: str | Path, *, durable: bool = False) -> None:
    """Rename a fully written temporary file onto ``path`` (the last step of :func:`write_atomic`, for
    writers that stream into :func:`temporary_path` over many calls).

    :param durable: fsync the file before the rename and the directory after it.
    """
    if durable:
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if durable:
        fsync_directory(Path(path).parent)


#: Prefix of the temporary and the discarded directories of :func:`replace_directory_atomic`; a run may
#: delete leftovers with this prefix (from a killed process) before it writes.
TEMPORARY_PREFIX = ".tmp-"
DISCARDED_PREFIX = ".old-"


def replace_directory_atomic(path: str | Path, write: Callable[[Path], Any], *, durable: bool = False) -> Path:
    """Call ``write(tmp)`` to fill a temporary directory beside ``path``, then rename it to ``path``: readers
    see the old directory or the whole new one, never a partial one. If ``write`` fails, the temporary
    directory is removed and ``path`` keeps what it had.

    When ``path`` already exists it is first renamed aside (``.old-<name>-...``), the new one renamed in,
    and the old one deleted: a kill between those two renames leaves no ``path`` but both complete
    directories (the aside one and the new ``.tmp-<name>-...``). Code that needs a checkpoint to be
    reachable at every instant writes each version under a new name and swaps a pointer file instead
    (as :func:`agents.vpt.training_run.save_checkpoint` does).

    :param path: the directory to write; its parent is created if needed.
    :param write: writes the directory's files into the (existing, empty) directory it is given.
    :param durable: fsync every file and the directory before the rename and the parent after it.
    :return: ``path``.

    Example::

        >>> import tempfile
        >>> from pathlib import Path
        >>> out = Path(tempfile.mkdtemp()) / "model"
        >>> _ = replace_directory_atomic(out, lambda tmp: (tmp / "config.json").write_text("{}"))
        >>> sorted(p.name for p in out.iterdir())
        ['config.json']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TEMPORARY_PREFIX}{path.name}-{_unique()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write(tmp)
        if durable:
            fsync_tree(tmp)
        if path.exists():
            old = path.with_name(f"{DISCARDED_PREFIX}{path.name}-{_unique()}")
            os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(old, path)
                raise
            if durable:
                fsync_directory(path.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if durable:
        fsync_directory(path.parent)
    return path

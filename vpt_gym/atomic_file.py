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
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["fsync_directory", "write_atomic"]


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
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(path.parent)

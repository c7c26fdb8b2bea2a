"""Write a benchmark's output file atomically: readers and resumed runs never see a partial file.

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

__all__ = ["write_atomic"]


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path`` (same suffix, so writers that infer the
    format from it work), then rename it onto ``path``. If ``write`` fails, the temporary file is removed
    and ``path`` keeps what it had.

    :param path: the file to write; its directory is created if needed.
    :param write: writes the whole file to the path it is given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

"""Send a run's library warnings and log messages to a file, so they do not print into its progress bars.

While :func:`log_to_file` is active, ``warnings.warn`` (through :func:`logging.captureWarnings`) and every
log record of WARNING or above that reaches the root logger go to the file, not to the terminal. The runner
names the file and its number of records in the report.

Example::

    >>> import tempfile, warnings
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "bench.log"
    >>> with log_to_file(path) as log:
    ...     warnings.warn("deprecated thing")
    >>> log.records, "deprecated thing" in path.read_text()
    (1, True)
"""
from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class _CountingFileHandler(logging.FileHandler):
    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=True)
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        super().emit(record)


@contextmanager
def log_to_file(path: str | Path, level: int = logging.WARNING) -> Iterator[_CountingFileHandler]:
    """Within the block, warnings and root-logger records at ``level`` or above go to ``path`` (appended)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _CountingFileHandler(path)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    py_warnings = logging.getLogger("py.warnings")
    old_propagate = py_warnings.propagate
    root.addHandler(handler)
    py_warnings.addHandler(handler)
    py_warnings.propagate = False  # once, to the file; not again through the root logger
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # each distinct warning once per place, as Python shows them
        logging.captureWarnings(True)
        try:
            yield handler
        finally:
            logging.captureWarnings(False)
            py_warnings.removeHandler(handler)
            py_warnings.propagate = old_propagate
            root.removeHandler(handler)
            handler.close()

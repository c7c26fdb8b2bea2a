"""Resuming a training run: refuse a continuation whose settings changed, and bring the run's metrics log
back to the checkpoint it resumes from.

Example::

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> log_path = Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> _ = log_path.write_text('{"step": 10}\\n{"step": 20}\\n{"step": 30, "lo')  # killed mid-line after step 20's checkpoint
    >>> with open_metrics_log(log_path, step=20) as log:
    ...     _ = log.write(json.dumps({"step": 30}) + "\\n")
    >>> [json.loads(line)["step"] for line in log_path.read_text().splitlines()]
    [10, 20, 30]
    >>> check_resumable("ckpt", {"batch_size": 16}, {"batch_size": 8}, ("batch_size",))
    Traceback (most recent call last):
    ...
    ValueError: ckpt: cannot resume with different settings (batch_size: 16 -> 8); use the same settings, another output directory, or resume=False (--no-resume) to start over
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from agents.checkpoints import bounded_repr
from vpt_gym.atomic_file import write_atomic

__all__ = ["check_resumable", "open_metrics_log"]


def check_resumable(path: Any, saved: dict[str, Any], current: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Refuse to resume a run whose data-order settings changed (the continuation would not be the same run).

    :param path: the checkpoint (for the message).
    :param saved: the settings stored with the checkpoint.
    :param current: the new run's settings.
    :param keys: the settings that must be equal.
    :raises ValueError: naming each changed setting, its saved and its new value.
    """
    changed = {k: (saved.get(k), current.get(k)) for k in keys if saved.get(k) != current.get(k)}
    if changed:
        detail = ", ".join(f"{k}: {bounded_repr(a, 80)} -> {bounded_repr(b, 80)}" for k, (a, b) in changed.items())
        raise ValueError(
            f"{path}: cannot resume with different settings ({detail}); use the same settings, another "
            "output directory, or resume=False (--no-resume) to start over"
        )


def open_metrics_log(path: str | os.PathLike, step: int) -> TextIO:
    """Open a run's JSON-lines metrics log for appending, first keeping only the lines of steps up to
    ``step`` (the checkpoint the run resumes from; 0 for a fresh run): a resumed run logs each step once,
    and a line torn by a kill (or any line that is not a JSON object with an integer ``"step"``) is
    dropped. The kept lines are rewritten atomically.

    :param path: the ``metrics.jsonl`` file (created if missing).
    :param step: the last step whose lines are kept.
    :return: the log, open for appending (text, UTF-8).
    """
    path = Path(path)
    if path.exists():
        kept = []
        with open(path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # torn last line
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("step"), int) and entry["step"] <= step:
                    kept.append(raw)
        write_atomic(path, lambda tmp: tmp.write_bytes(b"".join(kept)))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", encoding="utf-8")

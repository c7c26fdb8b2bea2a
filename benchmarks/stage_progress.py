"""A progress bar over a pipeline's named stages that also times each stage.

A pipeline runs for minutes; one bar per stage (``data``, ``world_model``, ...) tells the user where it is, and
the bar's postfix names the running stage while its own step bars (if any) show the steps. The measured
seconds per stage go into the pipeline's results.

Example::

    >>> stages = StageProgress("demo", ["load", "train"], enabled=False)
    >>> with stages.stage("load"):
    ...     pass
    >>> with stages.stage("train"):
    ...     pass
    >>> stages.close()
    >>> sorted(stages.seconds), stages.done
    (['load', 'train'], 2)
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Sequence

from tqdm.auto import tqdm


class StageProgress:
    """:param name: the pipeline's name (the bar's label). :param stages: the stage names, in order.
    :param enabled: show the bar (the timings are recorded either way)."""

    def __init__(self, name: str, stages: Sequence[str], enabled: bool = True) -> None:
        self.names = list(stages)
        self.seconds: dict[str, float] = {}
        self.done = 0
        self.bar = tqdm(total=len(self.names), desc=name, unit="stage", disable=not enabled, leave=False)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the stage ``name`` and advance the bar when it ends (also when it raises)."""
        if name not in self.names:
            raise ValueError(f"unknown stage {name!r}; the stages are {self.names}")
        self.bar.set_postfix_str(f"{name} ({self.names.index(name) + 1}/{len(self.names)})")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started
            self.done += 1
            self.bar.update(1)

    def skip(self, name: str) -> None:
        """Count a stage that does not run this time (e.g. a check switched off)."""
        if name not in self.names:
            raise ValueError(f"unknown stage {name!r}; the stages are {self.names}")
        self.done += 1
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()

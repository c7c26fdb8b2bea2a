"""Interval estimates for the benchmark report: a seeded stratified bootstrap (as rliable does), and its text.

A score over tasks is the mean of the per-task mean scores. Its uncertainty comes from the episodes: the
stratified bootstrap resamples each task's episodes with replacement (the tasks stay fixed), recomputes the
mean of task means, and reports the percentile interval (Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice"; rliable's ``StratifiedBootstrap``). With fewer than :data:`MIN_EPISODES_FOR_CI`
episodes per task an interval says little, so the report gives the mean, the number of episodes and the
range instead, never a standard error of two episodes.

Example::

    >>> e = estimate([[1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> e.mean, e.n, e.ci is not None
    (3.0, 5, True)
    >>> format_estimate(estimate([[1.0, 3.0]]), digits=1)
    '2.0 (range 1.0 to 3.0)'
    >>> format_estimate(estimate([[4.0]]), digits=1)
    '4.0'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

MIN_EPISODES_FOR_CI = 5
CONFIDENCE = 0.95
RESAMPLES = 2000


def stratified_bootstrap_ci(samples: Sequence[Sequence[float]], *, confidence: float = CONFIDENCE,
                            resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-stratum means, resampling within each stratum.

    :param samples: one sequence of values (episode scores) per stratum (task).
    :param confidence: the interval's coverage, in (0, 1). :param resamples: bootstrap resamples.
    :param seed: seed of the resampling (the report uses a fixed one, so the same file gives the same report).
    """
    strata = [np.asarray(s, dtype=np.float64) for s in samples]
    if not strata or any(s.ndim != 1 or s.size == 0 for s in strata):
        raise ValueError("samples must be one non-empty 1-d sequence of values per stratum")
    if not all(np.isfinite(s).all() for s in strata):
        raise ValueError("samples must be finite")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples!r}")
    rng = np.random.default_rng(seed)
    stats = np.zeros(resamples)
    for s in strata:
        stats += s[rng.integers(0, s.size, size=(resamples, s.size))].mean(axis=1)
    stats /= len(strata)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [tail, 1.0 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Estimate:
    """:param mean: mean of the per-stratum means. :param n: values in all. :param strata: number of strata.
    :param min_n: fewest values of a stratum. :param low, high: smallest and largest value (one stratum) or
    stratum mean (several). :param ci: the bootstrap interval, when every stratum has enough values."""

    mean: float
    n: int
    strata: int
    min_n: int
    low: float
    high: float
    ci: Optional[tuple[float, float]]


def estimate(samples: Sequence[Sequence[float]], *, min_episodes: int = MIN_EPISODES_FOR_CI, seed: int = 0
             ) -> Estimate:
    """The mean of per-stratum means, with a :func:`stratified_bootstrap_ci` when every stratum holds at least
    ``min_episodes`` values."""
    strata = [np.asarray(s, dtype=np.float64) for s in samples]
    if not strata or any(s.size == 0 for s in strata):
        raise ValueError("estimate needs at least one value in every stratum")
    means = np.array([s.mean() for s in strata])
    spread = strata[0] if len(strata) == 1 else means
    min_n = min(s.size for s in strata)
    ci = stratified_bootstrap_ci(strata, seed=seed) if min_n >= min_episodes else None
    return Estimate(float(means.mean()), int(sum(s.size for s in strata)), len(strata), int(min_n),
                    float(spread.min()), float(spread.max()), ci)


def format_estimate(e: Estimate, digits: int = 2) -> str:
    """``"m (CI lo to hi)"`` with an interval; else ``"m (range lo to hi)"`` for one stratum of 2+ values, and
    the plain mean otherwise (the table's n column says how many values it rests on)."""
    def f(x: float) -> str:
        return f"{x:.{digits}f}"

    if e.ci is not None:
        return f"{f(e.mean)} (CI {f(e.ci[0])} to {f(e.ci[1])})"
    if e.strata == 1 and e.n > 1:
        return f"{f(e.mean)} (range {f(e.low)} to {f(e.high)})"
    return f(e.mean)


def describe_method(min_episodes: int = MIN_EPISODES_FOR_CI) -> str:
    """One sentence for the report saying what the intervals are."""
    return (f"Intervals: {CONFIDENCE:.0%} percentile CIs of a stratified bootstrap over episodes ({RESAMPLES} "
            f"resamples, seeded; rliable's method), given only when every task has at least {min_episodes} "
            "episodes; with fewer, a task shows its range of episodes and an aggregate its mean only.")

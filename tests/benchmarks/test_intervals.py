"""The report's interval estimates: a seeded stratified bootstrap and how estimates are written."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.intervals import MIN_EPISODES_FOR_CI, estimate, format_estimate, stratified_bootstrap_ci


def test_bootstrap_of_two_values_spans_both():
    # resampled means of {0, 1}: 0 (p 1/4), 0.5 (1/2), 1 (1/4): the 95% percentile interval is exactly [0, 1]
    assert stratified_bootstrap_ci([[0.0, 1.0]]) == (0.0, 1.0)


def test_constant_data_gives_a_point_interval_and_strata_are_resampled_separately():
    assert stratified_bootstrap_ci([[3.0] * 6]) == (3.0, 3.0)
    # each task constant: the mean of task means never moves, although pooled episodes would range 0..1
    assert stratified_bootstrap_ci([[0.0] * 5, [1.0] * 5]) == (0.5, 0.5)


def test_seeded_and_close_to_scipys_percentile_bootstrap():
    x = np.random.default_rng(7).normal(10.0, 2.0, size=30)
    a = stratified_bootstrap_ci([x], seed=3)
    assert a == stratified_bootstrap_ci([x], seed=3)  # same seed, same interval
    assert a != stratified_bootstrap_ci([x], seed=4)
    lo, hi = a
    assert lo < x.mean() < hi
    stats = pytest.importorskip("scipy.stats")
    ref = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=20_000, random_state=0).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.1) and hi == pytest.approx(ref.high, abs=0.1)
    # more episodes, narrower interval
    wide = stratified_bootstrap_ci([x[:6]], seed=3)
    assert wide[1] - wide[0] > hi - lo


def test_bad_samples_are_refused():
    with pytest.raises(ValueError, match="non-empty"):
        stratified_bootstrap_ci([[1.0], []])
    with pytest.raises(ValueError, match="finite"):
        stratified_bootstrap_ci([[1.0, float("nan")]])
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap_ci([[1.0]], confidence=1.5)


def test_estimates_give_a_ci_only_with_enough_episodes_and_never_a_plus_minus():
    few = estimate([[1.0, 2.0, 4.0]])
    assert few.ci is None and few.n == 3
    assert format_estimate(few, digits=1) == "2.3 (range 1.0 to 4.0)"
    assert format_estimate(estimate([[0.25]])) == "0.25"
    enough = estimate([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert enough.ci is not None and MIN_EPISODES_FOR_CI == 5
    lo, hi = enough.ci
    assert format_estimate(enough, digits=1) == f"3.0 (CI {lo:.1f} to {hi:.1f})" and lo < 3.0 < hi
    # several tasks: the mean of task means; with a task below the minimum, no interval and no range
    mixed = estimate([[0.0, 1.0, 0.0, 1.0, 0.0], [1.0]])
    assert mixed.strata == 2 and mixed.mean == pytest.approx(0.7) and mixed.ci is None
    assert format_estimate(mixed) == "0.70"
    for e in (few, enough, mixed):
        assert "±" not in format_estimate(e)
    with pytest.raises(ValueError, match="at least one value"):
        estimate([])

"""vpt_gym.crafter_score against hand-computed values of the Crafter paper's formula."""
from __future__ import annotations

import math

import pytest

from vpt_gym.crafter_score import (
    ACHIEVEMENTS,
    crafter_score,
    score_from_success_rates,
    success_rates,
    unlocked,
)


def _rates(**given: float) -> dict[str, float]:
    rates = {name: 0.0 for name in ACHIEVEMENTS}
    rates.update(given)
    return rates


def test_extremes() -> None:
    assert score_from_success_rates(_rates()) == 0.0
    assert score_from_success_rates({n: 100.0 for n in ACHIEVEMENTS}) == pytest.approx(100.0)
    assert score_from_success_rates({n: 50.0 for n in ACHIEVEMENTS}) == pytest.approx(50.0)


def test_one_achievement_always_unlocked() -> None:
    # exp(ln(101) / 22) - 1 = 101 ** (1/22) - 1 = 0.233404...
    assert score_from_success_rates(_rates(collect_wood=100.0)) == pytest.approx(0.2334045, abs=1e-6)


def test_from_episodes_hand_computed() -> None:
    episodes = [
        {"collect_wood", "place_table"},
        {"collect_wood"},
        {"collect_wood": 3, "place_table": 0},  # crafter's counts dict: place_table not unlocked
        set(),
    ]
    rates = success_rates(episodes)
    assert rates["collect_wood"] == 75.0 and rates["place_table"] == 25.0
    assert sum(rates.values()) == 100.0
    assert list(rates) == list(ACHIEVEMENTS)
    # exp((ln 76 + ln 26) / 22) - 1 = exp((4.330733 + 3.258097) / 22) - 1 = 0.411915
    assert crafter_score(episodes) == pytest.approx(0.411915, abs=1e-6)
    assert crafter_score(episodes) == pytest.approx(math.exp((math.log(76) + math.log(26)) / 22) - 1)


def test_geometric_mean_below_arithmetic_mean() -> None:
    rates = _rates(collect_wood=100.0, place_table=80.0, collect_stone=10.0)
    assert score_from_success_rates(rates) < sum(rates.values()) / 22


def test_unlocked_accepts_sets_lists_and_counts() -> None:
    assert unlocked(["collect_wood", "collect_wood"]) == {"collect_wood"}
    assert unlocked({"eat_cow": 2, "wake_up": 0}) == {"eat_cow"}


@pytest.mark.parametrize(
    "episode, match",
    [
        ({"collect_wod"}, "collect_wod"),
        ({"collect_wood": -1}, "collect_wood"),
        ({"collect_wood": float("nan")}, "collect_wood"),
        ("collect_wood", "collection"),
    ],
)
def test_bad_episodes_raise(episode, match) -> None:
    with pytest.raises(ValueError, match=match):
        success_rates([episode])


def test_bad_rates_raise() -> None:
    with pytest.raises(ValueError, match="at least one episode"):
        success_rates([])
    with pytest.raises(ValueError, match="missing"):
        score_from_success_rates({"collect_wood": 1.0})
    with pytest.raises(ValueError, match="place_table"):
        score_from_success_rates(_rates(place_table=101.0))
    with pytest.raises(ValueError, match="place_table"):
        score_from_success_rates(_rates(place_table=float("nan")))
    with pytest.raises(ValueError, match="unknown"):
        score_from_success_rates({**_rates(), "fly": 1.0})

"""The Crafter score (Hafner 2021, "Benchmarking the Spectrum of Agent Capabilities", section 3).

For each of the 22 achievements, the **success rate** ``s_i`` is the percentage of episodes in which it
was unlocked at least once. The **score** is the geometric mean of the success rates, offset by one so
that achievements never unlocked do not zero it out::

    S = exp( (1/22) * sum_i ln(1 + s_i) ) - 1        (s_i and S in percent, 0..100)

All 22 achievements count, unlocked or not. An episode is given as the set (or any iterable) of the
achievement names it unlocked, or as crafter's ``info["achievements"]`` dict of counts (unlocked when
the count is > 0).

Example::

    >>> from vpt_gym.crafter_score import crafter_score, success_rates
    >>> episodes = [{"collect_wood", "place_table"}, {"collect_wood"}]
    >>> success_rates(episodes)["collect_wood"], success_rates(episodes)["place_table"]
    (100.0, 50.0)
    >>> round(crafter_score(episodes), 4)
    0.4748
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Union

from vpt_gym.envs.crafter import ACHIEVEMENTS

__all__ = ["ACHIEVEMENTS", "Episode", "crafter_score", "score_from_success_rates", "success_rates", "unlocked"]

#: one episode's achievements: names unlocked, or a name -> count mapping (crafter's info dict).
Episode = Union[Mapping[str, int], Iterable[str]]


def unlocked(episode: Episode) -> frozenset[str]:
    """The achievements an episode unlocked, checked against crafter's 22 names.

    :param episode: names unlocked, or a ``{name: count}`` mapping (unlocked when count > 0).
    :raises ValueError: for an unknown achievement name, a negative or non-numeric count, or a string
        given instead of a collection of names.
    """
    if isinstance(episode, (str, bytes)):
        raise ValueError(f"An episode must be a collection of achievement names or a counts dict, got {episode!r}")
    if isinstance(episode, Mapping):
        names = []
        for name, count in episode.items():
            if isinstance(count, bool) or not isinstance(count, numbers.Real) or math.isnan(count) or count < 0:
                raise ValueError(f"Achievement count for {name!r} must be a number >= 0, got {count!r}")
            if count > 0:
                names.append(name)
        keys = list(episode)
    else:
        names = list(episode)
        keys = names
    unknown = sorted(str(k) for k in keys if k not in ACHIEVEMENTS)
    if unknown:
        raise ValueError(f"Unknown achievement name(s) {unknown}; expected names from {list(ACHIEVEMENTS)}")
    return frozenset(names)


def success_rates(episodes: Iterable[Episode]) -> dict[str, float]:
    """Per-achievement success rate in percent: share of episodes that unlocked it at least once.

    :param episodes: one entry per episode (see :func:`unlocked`).
    :return: ``{achievement: percent}`` for all 22 achievements, in crafter's order.
    :raises ValueError: for no episodes or an invalid episode.
    """
    sets = [unlocked(episode) for episode in episodes]
    if not sets:
        raise ValueError("success_rates needs at least one episode, got none")
    return {name: 100.0 * sum(name in s for s in sets) / len(sets) for name in ACHIEVEMENTS}


def score_from_success_rates(rates: Mapping[str, float]) -> float:
    """The Crafter score (percent) from per-achievement success rates in percent.

    :param rates: a success rate in ``[0, 100]`` for each of the 22 achievements (no more, no less).
    :raises ValueError: for a missing/unknown achievement or a rate outside ``[0, 100]`` or NaN.
    """
    missing = [name for name in ACHIEVEMENTS if name not in rates]
    extra = sorted(str(name) for name in rates if name not in ACHIEVEMENTS)
    if missing or extra:
        raise ValueError(
            f"Success rates must cover exactly crafter's 22 achievements; missing {missing}, unknown {extra}"
        )
    total = 0.0
    for name in ACHIEVEMENTS:
        rate = rates[name]
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate <= 100.0:
            raise ValueError(f"Success rate of {name!r} must be a percentage in [0, 100], got {rate!r}")
        total += math.log1p(float(rate))
    return math.exp(total / len(ACHIEVEMENTS)) - 1.0


def crafter_score(episodes: Iterable[Episode]) -> float:
    """The Crafter score (percent) of a list of episodes: ``score_from_success_rates(success_rates(...))``.

    :param episodes: one entry per episode (see :func:`unlocked`).
    """
    return score_from_success_rates(success_rates(episodes))

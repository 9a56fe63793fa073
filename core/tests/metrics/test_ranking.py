"""Rank correlations and selection regret against float64 references written here."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from selfsup.metrics import average_ranks, kendall_tau, selection_regret, spearman


def _ranks_ref(xs):
    # rank of x = 1 + (# smaller) + (# equal others) / 2
    return [1 + sum(y < x for y in xs) + (sum(y == x for y in xs) - 1) / 2 for x in xs]


def _spearman_ref(x, y):
    rx, ry = _ranks_ref(x), _ranks_ref(y)
    n = len(x)
    mx, my = sum(rx) / n, sum(ry) / n
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    return num / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def _tau_b_ref(x, y):
    n = len(x)
    pairs = list(itertools.combinations(range(n), 2))
    s = sum(((x[i] > x[j]) - (x[i] < x[j])) * ((y[i] > y[j]) - (y[i] < y[j])) for i, j in pairs)
    n0 = len(pairs)
    n1 = sum(x[i] == x[j] for i, j in pairs)
    n2 = sum(y[i] == y[j] for i, j in pairs)
    return s / math.sqrt((n0 - n1) * (n0 - n2))


@pytest.mark.parametrize("seed", range(6))
def test_match_references_with_ties(seed):
    rng = random.Random(seed)
    n = rng.randint(3, 25)
    x = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(n)]
    y = [rng.choice([1.0, 2.0, rng.random()]) for _ in range(n)]
    if len(set(x)) < 2 or len(set(y)) < 2:
        x[0], x[1], y[0], y[1] = 0.0, 1.0, 0.0, 1.0
    assert average_ranks(x) == pytest.approx(_ranks_ref(x))
    assert spearman(x, y) == pytest.approx(_spearman_ref(x, y), abs=1e-12)
    assert kendall_tau(x, y) == pytest.approx(_tau_b_ref(x, y), abs=1e-12)


def test_perfect_and_reversed_orders():
    x = [1, 2, 3, 4, 5]
    assert spearman(x, [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert kendall_tau(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, [1, 1, 1, 1, 1]))
    assert math.isnan(kendall_tau([2, 2], [1, 3]))


def test_selection_regret():
    assert selection_regret([1, 3, 2], [0.5, 0.9, 0.7]) == 0.0
    assert selection_regret([3, 1, 2], [0.5, 0.9, 0.7]) == pytest.approx(0.4)
    # two runs tied on the selector: the worse of them counts
    assert selection_regret([3, 3, 1], [0.6, 0.9, 0.95]) == pytest.approx(0.35)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [([1], [1], "at least 2"), ([1, 2], [1], "same length"), ([1, float("nan")], [1, 2], "NaN")],
)
def test_bad_inputs(x, y, match):
    with pytest.raises(ValueError, match=match):
        spearman(x, y)
    with pytest.raises(ValueError, match=match):
        kendall_tau(x, y)

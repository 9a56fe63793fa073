"""Feature mutual information, RFM/CFM masks and bag dropout."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch

from selfsup_recsys.augment import (
    bag_dropout,
    correlated_feature_masks,
    feature_mutual_information,
    mutual_information,
    random_feature_masks,
)
from selfsup_recsys.batch import parse_features


def _direct_mi(a: list[list[int]], b: list[list[int]]) -> float:
    """Eq. 4 with dictionaries: each item puts 1/(|a||b|) on every value pair of its bags."""
    joint: dict[tuple[int, int], float] = defaultdict(float)
    n = 0
    for xa, xb in zip(a, b, strict=True):
        xa, xb = [v for v in xa if v >= 0], [v for v in xb if v >= 0]
        if not xa or not xb:
            continue
        n += 1
        for u in xa:
            for v in xb:
                joint[(u, v)] += 1.0 / (len(xa) * len(xb))
    pa: dict[int, float] = defaultdict(float)
    pb: dict[int, float] = defaultdict(float)
    for (u, v), p in joint.items():
        pa[u] += p / n
        pb[v] += p / n
    return sum((p / n) * math.log((p / n) / (pa[u] * pb[v])) for (u, v), p in joint.items())


def test_categorical_mi_matches_formula() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 4, (200,), generator=g)
    b = (a + torch.randint(0, 2, (200,), generator=g)) % 5  # correlated with a
    got = mutual_information(a, b)
    assert got == pytest.approx(
        _direct_mi([[x] for x in a.tolist()], [[x] for x in b.tolist()]), rel=1e-9
    )
    assert mutual_information(a, a) == pytest.approx(
        _direct_mi([[x] for x in a.tolist()], [[x] for x in a.tolist()])
    )


def test_bag_mi_matches_formula_and_skips_empty_bags() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randint(-1, 5, (60, 3), generator=g)
    b = torch.randint(0, 3, (60,), generator=g)
    expected = _direct_mi(a.tolist(), [[x] for x in b.tolist()])
    assert mutual_information(a, b) == pytest.approx(expected, rel=1e-9)


def test_independent_features_have_zero_mi_and_matrix_is_symmetric() -> None:
    a = torch.arange(4).repeat_interleave(4)
    b = torch.arange(4).repeat(4)  # every (a, b) pair once: independent
    assert mutual_information(a, b) == pytest.approx(0.0, abs=1e-12)
    specs = parse_features(
        [
            {"name": "a", "kind": "categorical", "cardinality": 4},
            {"name": "b", "kind": "categorical", "cardinality": 4},
            {"name": "c", "kind": "numeric"},
        ]
    )
    mi = feature_mutual_information({"a": a, "b": a.flip(0), "c": torch.zeros(16)}, specs)
    assert torch.equal(mi, mi.T) and float(mi[0, 2]) == 0.0 and float(mi[0, 0]) == 0.0
    assert float(mi[0, 1]) == pytest.approx(math.log(4))


def test_rfm_is_complementary_half_split() -> None:
    for seed in range(5):
        a, b = random_feature_masks(5, torch.Generator().manual_seed(seed))
        assert int(a.sum()) == 2 and torch.equal(a, ~b)
    with pytest.raises(ValueError, match=">= 2 features"):
        random_feature_masks(1)


def test_cfm_masks_seed_and_its_most_correlated_features() -> None:
    mi = torch.tensor(
        [
            [0.0, 0.9, 0.1, 0.5, 0.0],
            [0.9, 0.0, 0.2, 0.3, 0.0],
            [0.1, 0.2, 0.0, 0.8, 0.0],
            [0.5, 0.3, 0.8, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    top = {0: {1, 3}, 1: {0, 3}, 2: {3, 1}, 3: {2, 0}, 4: {0, 1}}  # n = floor(5/2) = 2
    allowed = {frozenset({f} | t) for f, t in top.items()}
    seen = set()
    for s in range(40):
        a, b = correlated_feature_masks(mi, torch.Generator().manual_seed(s))
        assert torch.equal(a, ~b) and int(a.sum()) == 3
        seen.add(frozenset(a.nonzero().flatten().tolist()))
    assert seen == allowed  # every seed feature is drawn
    a, _ = correlated_feature_masks(mi[:2, :2], torch.Generator().manual_seed(0))
    assert int(a.sum()) == 1  # k = 2: view b keeps one feature


def test_bag_dropout_rate_and_no_in_place_change() -> None:
    bag = torch.randint(0, 9, (400, 10), generator=torch.Generator().manual_seed(0))
    bag[:, 8:] = -1
    copy = bag.clone()
    out = bag_dropout(bag, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(bag, copy)
    dropped = ((out == -1) & (bag >= 0)).sum() / (bag >= 0).sum()
    assert abs(float(dropped) - 0.3) < 0.02
    assert bool(((out == bag) | (out == -1)).all())
    with pytest.raises(ValueError, match="rate"):
        bag_dropout(bag, 1.5)

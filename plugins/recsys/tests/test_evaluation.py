"""Full-corpus retrieval metrics against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup_recsys.evaluation import (
    evaluate_retrieval,
    head_tail_groups,
    ranking_metrics,
    topk_excluding,
)


def _hand_topk(
    q: torch.Tensor, items: torch.Tensor, k: int, seen: list[list[int]]
) -> list[list[int]]:
    out = []
    for i in range(len(q)):
        scores = [(float(q[i].double() @ items[j].double()), j) for j in range(len(items))]
        ranked = [j for s, j in sorted(scores, key=lambda t: (-t[0], t[1])) if j not in seen[i]]
        out.append(ranked[:k])
    return out


def test_topk_excludes_seen_items_exactly() -> None:
    g = torch.Generator().manual_seed(0)
    q, items = torch.randn(9, 4, generator=g), torch.randn(15, 4, generator=g)
    seen = [
        torch.randint(0, 15, (int(n),), generator=g) for n in torch.randint(0, 8, (9,), generator=g)
    ]
    got = topk_excluding(q, items, 5, seen, chunk_size=4)
    assert got.tolist() == _hand_topk(q, items, 5, [s.tolist() for s in seen])


def test_topk_pads_when_too_few_unseen_items() -> None:
    q, items = torch.ones(1, 2), torch.eye(2).repeat(2, 1)[:3]
    got = topk_excluding(q, items, 3, [torch.tensor([0, 1])])
    assert got.tolist() == [[2, -1, -1]]
    with pytest.raises(ValueError, match="one entry per query"):
        topk_excluding(q, items, 2, [])


def test_metrics_by_hand() -> None:
    topk = torch.tensor([[3, 1, 2], [0, 2, 1], [1, 0, 3], [2, 3, -1]])
    targets = torch.tensor([1, 3, 1, 3])  # ranks 1, miss, 0, 1
    groups = head_tail_groups(torch.tensor([5, 9, 0, 1]), head_fraction=0.5)  # head = {0, 1}
    assert groups["head"].tolist() == [True, True, False, False]
    m = ranking_metrics(topk, targets, ks=(1, 3), groups=groups)
    assert m["recall@1"] == pytest.approx(1 / 4)
    assert m["recall@3"] == pytest.approx(3 / 4)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1 + 1 / math.log2(3)) / 4)
    assert m["head/recall@3"] == pytest.approx(1.0)  # targets 1, 1
    assert m["tail/recall@3"] == pytest.approx(0.5)  # targets 3, 3
    assert m["tail/ndcg@1"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="exceeds"):
        ranking_metrics(topk, targets, ks=(4,))


def test_popularity_baseline_through_evaluate() -> None:
    counts = torch.tensor([10.0, 30.0, 20.0, 0.0])
    queries = torch.ones(2, 1)
    m = evaluate_retrieval(
        queries,
        counts[:, None],
        torch.tensor([2, 0]),
        [torch.tensor([1]), torch.tensor([])],
        counts,
        ks=(1, 2),
    )
    # user 0: list [2, 0] -> target 2 at rank 0; user 1: list [1, 2] -> target 0 missed
    assert m["recall@1"] == pytest.approx(0.5) and m["recall@2"] == pytest.approx(0.5)


def test_head_fraction_validated() -> None:
    with pytest.raises(ValueError, match="head_fraction"):
        head_tail_groups(torch.ones(3), 1.5)

from __future__ import annotations

import math

import pytest
import torch

from selfsup.metrics import knn_accuracy, knn_predict


def reference_knn(
    bank: torch.Tensor, labels: torch.Tensor, queries: torch.Tensor, k: int, t: float, c: int
) -> list[int]:
    """Brute-force float64 weighted kNN: explicit cosine similarities, sort, weighted votes."""
    rows = bank.double().tolist()
    norms = [math.sqrt(sum(x * x for x in r)) for r in rows]
    out = []
    for q in queries.double().tolist():
        qn = math.sqrt(sum(x * x for x in q))
        sims = [
            (sum(a * b for a, b in zip(q, r, strict=True)) / (qn * rn), j)
            for j, (r, rn) in enumerate(zip(rows, norms, strict=True))
        ]
        sims.sort(reverse=True)
        votes = [0.0] * c
        for s, j in sims[:k]:
            votes[int(labels[j])] += math.exp(s / t)
        out.append(max(range(c), key=lambda cls: (votes[cls], -cls)))
    return out


def make_data(seed: int, m: int = 60, q: int = 25, d: int = 6, c: int = 4):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 1.5
    y_bank = torch.randint(0, c, (m,), generator=g)
    y_query = torch.randint(0, c, (q,), generator=g)
    bank = centers[y_bank] + torch.randn(m, d, generator=g)
    queries = centers[y_query] + torch.randn(q, d, generator=g)
    return bank, y_bank, queries, y_query


@pytest.mark.parametrize(("k", "t"), [(1, 0.07), (5, 0.1), (20, 0.5), (60, 1.0)])
def test_matches_brute_force(k: int, t: float) -> None:
    bank, y_bank, queries, _ = make_data(k)
    got = knn_predict(bank, y_bank, queries, k=k, temperature=t, num_classes=4)
    assert got.dtype == torch.long and got.shape == (25,)
    assert got.tolist() == reference_knn(bank, y_bank, queries, k, t, 4)


def test_small_temperature_does_not_overflow() -> None:
    bank, y_bank, queries, _ = make_data(7)
    # exp(1 / 0.005) = e^200 overflows float32 but not the float64 reference
    got = knn_predict(bank, y_bank, queries, k=10, temperature=0.005)
    assert got.tolist() == reference_knn(bank, y_bank, queries, 10, 0.005, 4)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 25, 1000])
def test_chunked_equals_unchunked(chunk_size: int) -> None:
    bank, y_bank, queries, _ = make_data(11)
    full = knn_predict(bank, y_bank, queries, k=7, chunk_size=10_000)
    assert torch.equal(knn_predict(bank, y_bank, queries, k=7, chunk_size=chunk_size), full)


def test_accuracy_and_k_clamped() -> None:
    bank, y_bank, queries, y_query = make_data(3)
    pred = knn_predict(bank, y_bank, queries, k=5)
    expected = float((pred == y_query).float().mean())
    assert knn_accuracy(bank, y_bank, queries, y_query, k=5) == pytest.approx(expected)
    # k larger than the bank uses every row
    assert torch.equal(
        knn_predict(bank, y_bank, queries, k=1000), knn_predict(bank, y_bank, queries, k=60)
    )
    # queries equal to bank rows with k=1 are classified perfectly
    assert knn_accuracy(bank, y_bank, bank, y_bank, k=1) == 1.0


def test_empty_query_and_num_classes() -> None:
    bank, y_bank, _, _ = make_data(4)
    assert knn_predict(bank, y_bank, torch.empty(0, 6)).shape == (0,)
    with pytest.raises(ValueError, match="num_classes"):
        knn_predict(bank, y_bank, bank, num_classes=2)


def test_bad_input() -> None:
    bank, y_bank, queries, y_query = make_data(5)
    with pytest.raises(ValueError, match="feature dimensions"):
        knn_predict(bank, y_bank, queries[:, :3])
    with pytest.raises(ValueError, match="shape"):
        knn_predict(bank, y_bank[:-1], queries)
    with pytest.raises(ValueError, match="integer"):
        knn_predict(bank, y_bank.float(), queries)
    with pytest.raises(ValueError, match=">= 0"):
        knn_predict(bank, y_bank - 1, queries)
    with pytest.raises(ValueError, match="k must"):
        knn_predict(bank, y_bank, queries, k=0)
    with pytest.raises(ValueError, match="temperature"):
        knn_predict(bank, y_bank, queries, temperature=0.0)
    with pytest.raises(ValueError, match="chunk_size"):
        knn_predict(bank, y_bank, queries, chunk_size=0)
    with pytest.raises(ValueError, match="NaN"):
        knn_predict(bank, y_bank, queries * float("nan"))
    with pytest.raises(ValueError, match="no rows"):
        knn_accuracy(bank, y_bank, queries[:0], y_query[:0])
    with pytest.raises(ValueError, match="query_labels"):
        knn_accuracy(bank, y_bank, queries, y_query[:3])

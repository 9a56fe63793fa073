"""Streaming frequency estimation (Yi et al. 2019, Algorithms 2-3) against a hand loop."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup_recsys.frequency import StreamingFrequencyEstimator, count_log_prob


def _hand_loop(
    batches: list[list[int]], hashes: list[tuple[int, int]], buckets: int, alpha: float, b0: float
) -> list[list[float]]:
    """Algorithm 2/3 with Python dicts: each distinct slot updated once per step, read after."""
    prime = 2_147_483_647
    last = [dict() for _ in hashes]
    gap = [dict() for _ in hashes]
    out = []
    for t, batch in enumerate(batches, start=1):
        for i, (a, b) in enumerate(hashes):
            for slot in {((a * y + b) % prime) % buckets for y in batch}:
                g = gap[i].get(slot, b0)
                gap[i][slot] = (1 - alpha) * g + alpha * (t - last[i].get(slot, 0.0))
                last[i][slot] = float(t)
        out.append(
            [
                1.0
                / max(
                    gap[i].get(((a * y + b) % prime) % buckets, b0)
                    for i, (a, b) in enumerate(hashes)
                )
                for y in batch
            ]
        )
    return out


@pytest.mark.parametrize(("buckets", "num_hashes"), [(1000, 1), (7, 1), (7, 3)])
def test_matches_hand_loop(buckets: int, num_hashes: int) -> None:
    est = StreamingFrequencyEstimator(buckets, alpha=0.1, num_hashes=num_hashes, initial_gap=50.0)
    g = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, 30, (6,), generator=g) for _ in range(25)]
    hashes = [(int(a), int(b)) for a, b in est.hash_params]
    ref = _hand_loop([b.tolist() for b in batches], hashes, buckets, 0.1, 50.0)
    for batch, expected in zip(batches, ref, strict=True):
        got = est(batch).double().exp()
        torch.testing.assert_close(
            got, torch.tensor(expected, dtype=torch.float64), rtol=1e-6, atol=0
        )


def test_converges_to_true_frequency() -> None:
    """An item present every k-th step gets p ~ 1/k."""
    est = StreamingFrequencyEstimator(1 << 12, alpha=0.05)
    for t in range(1, 2001):
        ids = [0] + ([1] if t % 4 == 0 else [])
        est.update(torch.tensor(ids))
    p = est.probability(torch.tensor([0, 1]))
    assert abs(float(p[0]) - 1.0) < 1e-3 and abs(float(p[1]) - 0.25) < 1e-3


def test_eval_reads_without_updating_and_state_round_trips() -> None:
    est = StreamingFrequencyEstimator(64)
    est(torch.tensor([1, 2, 3]))
    before = est.step.clone()
    est.log_prob(torch.tensor([1]))
    assert torch.equal(est.step, before)
    fresh = StreamingFrequencyEstimator(64)
    fresh.load_state_dict(est.state_dict())
    torch.testing.assert_close(
        fresh.log_prob(torch.tensor([1, 5])), est.log_prob(torch.tensor([1, 5]))
    )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alpha"):
        StreamingFrequencyEstimator(8, alpha=0.0)
    with pytest.raises(ValueError, match="int64"):
        StreamingFrequencyEstimator(8).update(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="2\\*\\*32"):
        StreamingFrequencyEstimator(8).update(torch.tensor([-1]))


def test_count_log_prob() -> None:
    lp = count_log_prob(torch.tensor([3, 0, 1]), smoothing=1.0)
    expected = [math.log(4 / 7), math.log(1 / 7), math.log(2 / 7)]
    torch.testing.assert_close(
        lp.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-6, atol=0
    )
    with pytest.raises(ValueError, match="smoothing"):
        count_log_prob(torch.tensor([0, 0]), smoothing=0.0)
    with pytest.raises(ValueError, match="non-negative"):
        count_log_prob(torch.tensor([-1, 2]))

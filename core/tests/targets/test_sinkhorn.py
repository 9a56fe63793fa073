"""sinkhorn_knopp against SwAV's distributed_sinkhorn written out (float64), its marginals, and
two processes normalising over the global batch."""

from __future__ import annotations

import pytest
import torch

from selfsup.targets import sinkhorn_knopp
from selfsup.testing.distributed import run_on_ranks


def _ref_sinkhorn(scores: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    """SwAV's reference on one process: Q = exp(S / eps)^T; Q /= sum; per round rows / (K sum),
    columns / (B sum); return (B Q)^T."""
    q = torch.exp(scores.double() / epsilon).T
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(1, keepdim=True) / k
        q = q / q.sum(0, keepdim=True) / b
    return (q * b).T


@pytest.mark.parametrize("iterations", [1, 3, 10])
def test_sinkhorn_equals_the_reference(iterations: int) -> None:
    scores = torch.randn(12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = sinkhorn_knopp(scores, 0.05, iterations, gather=False)
    torch.testing.assert_close(got, _ref_sinkhorn(scores, 0.05, iterations), rtol=1e-12, atol=1e-14)


def test_codes_are_distributions_with_equal_cluster_mass_and_no_overflow() -> None:
    scores = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    q = sinkhorn_knopp(scores, 0.5, iterations=50, gather=False)
    assert q.dtype == torch.float32
    torch.testing.assert_close(q.sum(1), torch.ones(64), rtol=0, atol=1e-5)
    torch.testing.assert_close(q.sum(0), torch.full((8,), 8.0), rtol=0, atol=1e-3)
    # scores 600 apart after / epsilon: exp overflows (and shifted, underflows) in the reference
    extreme = sinkhorn_knopp(30.0 * scores, 0.05, iterations=3, gather=False)
    assert torch.isfinite(extreme).all()
    torch.testing.assert_close(extreme.sum(1), torch.ones(64), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_knopp(scores, epsilon=0.0)


def _on_rank(rank: int, world: int) -> torch.Tensor:
    scores = torch.randn(12, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    return sinkhorn_knopp(scores[rank * 6 : (rank + 1) * 6], 0.05, 3)


@pytest.mark.distributed
def test_two_ranks_give_the_codes_of_the_global_batch() -> None:
    scores = torch.randn(12, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    whole = sinkhorn_knopp(scores, 0.05, 3, gather=False)
    torch.testing.assert_close(torch.cat(run_on_ranks(_on_rank)), whole, rtol=1e-12, atol=1e-14)

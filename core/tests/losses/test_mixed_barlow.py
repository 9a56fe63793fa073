"""Mixed Barlow Twins' regulariser against a float64 re-implementation of the paper's formula
(Bandara et al., arXiv 2312.02151), gradients included."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.losses import mixed_barlow_regularizer


def _mixed_reference(z1, z2, zm, perm, alpha, lam, scale):  # type: ignore[no-untyped-def]
    """Loops over the matrix entries, float64, unbiased std (wgcban/mix-bt main.py)."""
    n, d = z1.shape

    def std(z):  # type: ignore[no-untyped-def]
        mean = [sum(z[i][k] for i in range(n)) / n for k in range(d)]
        sd = [
            math.sqrt(sum((z[i][k] - mean[k]) ** 2 for i in range(n)) / (n - 1)) for k in range(d)
        ]
        return [[(z[i][k] - mean[k]) / sd[k] for k in range(d)] for i in range(n)]

    a, b, m = std(z1.tolist()), std(z2.tolist()), std(zm.tolist())
    bp = [b[j] for j in perm.tolist()]

    def cc(x, y, i, j):  # type: ignore[no-untyped-def]
        return sum(x[r][i] * y[r][j] for r in range(n)) / n

    total = 0.0
    for zk in (a, b):
        for i in range(d):
            for j in range(d):
                gt = alpha * cc(a, zk, i, j) + (1 - alpha) * cc(bp, zk, i, j)
                total += (cc(m, zk, i, j) - gt) ** 2
    return scale * lam * total


def test_mixed_barlow_regularizer_matches_the_reference_formula() -> None:
    g = torch.Generator().manual_seed(1)
    z1, z2, zm = (torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(3))
    perm = torch.tensor([2, 0, 4, 1, 3])
    got = mixed_barlow_regularizer(z1, z2, zm, perm, 0.3, lambda_offdiag=0.02, scale=4.0)
    want = _mixed_reference(z1, z2, zm, perm, 0.3, 0.02, 4.0)
    assert got.item() == pytest.approx(want, rel=1e-10)


def test_mixed_barlow_regularizer_gradients() -> None:
    # Gradients reach all three inputs (nothing detached, as the reference): finite differences.
    g = torch.Generator().manual_seed(2)
    zs = [torch.randn(4, 2, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    perm = torch.tensor([1, 0, 3, 2])
    assert torch.autograd.gradcheck(
        lambda a, b, c: mixed_barlow_regularizer(a, b, c, perm, 0.7), zs
    )


def test_mixed_barlow_regularizer_vanishes_for_linear_embeddings() -> None:
    # If z_mix is exactly the mixture of the standardised embeddings, the regulariser is 0.
    g = torch.Generator().manual_seed(3)
    z1, z2 = (
        torch.randn(6, 3, generator=g, dtype=torch.float64),
        torch.randn(6, 3, generator=g, dtype=torch.float64),
    )
    perm = torch.randperm(6, generator=g)
    alpha = 1.0
    assert mixed_barlow_regularizer(z1, z2, z1.clone(), perm, alpha).item() == pytest.approx(
        0.0, abs=1e-20
    )


def test_mixed_barlow_bad_inputs() -> None:
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="perm"):
        mixed_barlow_regularizer(z, z, z, torch.arange(3), 0.5)
    with pytest.raises(ValueError, match="alpha"):
        mixed_barlow_regularizer(z, z, z, torch.arange(4), 1.5)

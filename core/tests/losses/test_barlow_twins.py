"""barlow_twins against explicit per-feature sums: standardisation, C, lambda, gradients."""

from __future__ import annotations

import pytest
import torch

from selfsup.losses import BarlowTwinsLoss, barlow_twins, cross_correlation

TOL = 1e-10


def _leaf(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()


def _standardise(z, eps):
    """Per feature d: (z_nd - mean_d) / sqrt(biased var_d + eps), as columns of scalars."""
    n, dim = z.shape
    cols = []
    for d in range(dim):
        mean = sum(z[i, d] for i in range(n)) / n
        var = sum((z[i, d] - mean) ** 2 for i in range(n)) / n
        cols.append([(z[i, d] - mean) / torch.sqrt(var + eps) for i in range(n)])
    return cols


def _ref_c(z1, z2, eps=1e-5):
    n, dim = z1.shape
    a, b = _standardise(z1, eps), _standardise(z2, eps)
    return [[sum(a[i][k] * b[j][k] for k in range(n)) / n for j in range(dim)] for i in range(dim)]


def _ref_loss(z1, z2, lam, eps=1e-5):
    c = _ref_c(z1, z2, eps)
    dim = len(c)
    on = sum((1 - c[i][i]) ** 2 for i in range(dim))
    off = sum(c[i][j] ** 2 for i in range(dim) for j in range(dim) if i != j)
    return on + lam * off


def _check(loss, ref, inputs):
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    got = torch.autograd.grad(loss, inputs, retain_graph=True)
    want = torch.autograd.grad(ref, inputs, retain_graph=True)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)


@pytest.mark.parametrize("lam", [0.0, 0.0051, 0.5])
def test_matches_reference(lam):
    z1, z2 = _leaf(6, 4, seed=0, scale=2.0), _leaf(6, 4, seed=1)
    _check(barlow_twins(z1, z2, lam), _ref_loss(z1, z2, lam), [z1, z2])


def test_eps_and_two_samples():
    z1, z2 = _leaf(2, 3, seed=2), _leaf(2, 3, seed=3)
    _check(barlow_twins(z1, z2, 0.1, eps=1e-2), _ref_loss(z1, z2, 0.1, eps=1e-2), [z1, z2])


def test_cross_correlation_matches_batchnorm_and_loops():
    z1, z2 = _leaf(8, 5, seed=4), _leaf(8, 5, seed=5)
    c = cross_correlation(z1, z2)
    ref = torch.stack([torch.stack(row) for row in _ref_c(z1, z2)])
    torch.testing.assert_close(c, ref, atol=TOL, rtol=0)
    bn = torch.nn.BatchNorm1d(5, affine=False).double().train()
    torch.testing.assert_close(c, bn(z1).T @ bn(z2) / 8, atol=TOL, rtol=0)


def test_invariant_to_per_feature_affine_maps():
    z1, z2 = _leaf(10, 4, seed=6), _leaf(10, 4, seed=7)
    scale = torch.tensor([1.0, 3.0, 0.5, 10.0], dtype=torch.float64)
    a = barlow_twins(z1, z2, eps=1e-12)
    b = barlow_twins(z1 * scale + 4.0, z2, eps=1e-12)
    torch.testing.assert_close(a, b, atol=1e-8, rtol=0)


def test_perfect_correlation_gives_zero():
    z = _leaf(16, 3, seed=8)
    basis = torch.linalg.qr(z.detach() - z.detach().mean(0))[0] * 4.0  # orthogonal columns
    assert barlow_twins(basis, basis, eps=1e-12) < 1e-8


def test_float32_runs_in_float32():
    z1, z2 = torch.randn(8, 4), torch.randn(8, 4)
    out = barlow_twins(z1, z2)
    assert out.dtype == torch.float32
    ref = barlow_twins(z1.double(), z2.double())
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)


def test_module_matches_function():
    z1, z2 = _leaf(5, 4, seed=9), _leaf(5, 4, seed=10)
    mod = BarlowTwinsLoss(0.2, eps=1e-4)
    torch.testing.assert_close(mod(z1, z2), barlow_twins(z1, z2, 0.2, eps=1e-4), atol=TOL, rtol=0)
    assert "lambda_offdiag=0.2" in repr(mod)


def test_bad_inputs():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="at least 2"):
        barlow_twins(z[:1], z[:1])
    with pytest.raises(ValueError, match="shape mismatch"):
        barlow_twins(z, z[:3])
    with pytest.raises(ValueError, match=r"must have shape \(N, D\)"):
        barlow_twins(z[None], z[None])
    with pytest.raises(ValueError, match="NaN/inf"):
        barlow_twins(z, z * float("nan"))
    with pytest.raises(ValueError, match="lambda_offdiag must be >= 0"):
        barlow_twins(z, z, -0.1)
    with pytest.raises(ValueError, match="eps must be > 0"):
        barlow_twins(z, z, eps=0.0)
    with pytest.raises(ValueError, match="0 row"):
        barlow_twins(z[:0], z[:0])
    with pytest.raises(ValueError, match="lambda_offdiag"):
        BarlowTwinsLoss(float("nan"))

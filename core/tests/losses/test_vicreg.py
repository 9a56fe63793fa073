"""vicreg and its three terms against explicit sums (facebookresearch/vicreg conventions)."""

from __future__ import annotations

import pytest
import torch

from selfsup.losses import VICRegLoss, covariance_term, invariance_term, variance_term, vicreg

TOL = 1e-10


def _leaf(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()


def _ref_inv(z1, z2):
    n, dim = z1.shape
    return sum((z1[i, d] - z2[i, d]) ** 2 for i in range(n) for d in range(dim)) / (n * dim)


def _ref_var(z, eps=1e-4):
    """(1/D) sum_d relu(1 - sqrt(unbiased var_d + eps))."""
    n, dim = z.shape
    total = 0.0
    for d in range(dim):
        mean = sum(z[i, d] for i in range(n)) / n
        var = sum((z[i, d] - mean) ** 2 for i in range(n)) / (n - 1)
        total = total + torch.relu(1 - torch.sqrt(var + eps))
    return total / dim


def _ref_cov(z):
    """(1/D) sum_{a != b} cov_ab^2, cov = centred z^T z / (N - 1)."""
    n, dim = z.shape
    means = [sum(z[i, d] for i in range(n)) / n for d in range(dim)]
    total = 0.0
    for a in range(dim):
        for b in range(dim):
            if a != b:
                cov = sum((z[i, a] - means[a]) * (z[i, b] - means[b]) for i in range(n)) / (n - 1)
                total = total + cov**2
    return total / dim


def _ref_vicreg(z1, z2, sim=25.0, std=25.0, cov=1.0, eps=1e-4):
    var = (_ref_var(z1, eps) + _ref_var(z2, eps)) / 2
    return sim * _ref_inv(z1, z2) + std * var + cov * (_ref_cov(z1) + _ref_cov(z2))


def _check(loss, ref, inputs):
    torch.testing.assert_close(loss, torch.as_tensor(ref, dtype=loss.dtype), atol=TOL, rtol=0)
    got = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
    want = torch.autograd.grad(ref, inputs, retain_graph=True, allow_unused=True)
    for x, g, w in zip(inputs, got, want, strict=True):
        g = torch.zeros_like(x) if g is None else g
        w = torch.zeros_like(x) if w is None else w
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)


def test_terms_match_reference():
    # scale 0.3: most features have std < 1, so the variance hinge is active
    z1, z2 = _leaf(7, 4, seed=0, scale=0.3), _leaf(7, 4, seed=1, scale=1.5)
    _check(invariance_term(z1, z2), _ref_inv(z1, z2), [z1, z2])
    _check(variance_term(z1), _ref_var(z1), [z1])
    _check(variance_term(z2, eps=0.5), _ref_var(z2, 0.5), [z2])
    _check(covariance_term(z1), _ref_cov(z1), [z1])


@pytest.mark.parametrize("coeffs", [(25.0, 25.0, 1.0), (1.0, 0.0, 0.0), (0.0, 3.0, 0.5)])
def test_total_matches_reference(coeffs):
    z1, z2 = _leaf(6, 5, seed=2, scale=0.5), _leaf(6, 5, seed=3, scale=0.8)
    _check(vicreg(z1, z2, *coeffs), _ref_vicreg(z1, z2, *coeffs), [z1, z2])


def test_variance_averaged_covariance_summed_over_views():
    z1, z2 = _leaf(6, 3, seed=4, scale=0.2), _leaf(6, 3, seed=5, scale=0.4)
    var = vicreg(z1, z2, 0.0, 1.0, 0.0)
    cov = vicreg(z1, z2, 0.0, 0.0, 1.0)
    torch.testing.assert_close(var, (variance_term(z1) + variance_term(z2)) / 2)
    torch.testing.assert_close(cov, covariance_term(z1) + covariance_term(z2))


def test_eps_and_two_samples():
    z1, z2 = _leaf(2, 3, seed=6), _leaf(2, 3, seed=7)
    _check(vicreg(z1, z2, eps=0.01), _ref_vicreg(z1, z2, eps=0.01), [z1, z2])


def test_module_matches_function():
    z1, z2 = _leaf(5, 4, seed=8), _leaf(5, 4, seed=9)
    mod = VICRegLoss(10.0, 5.0, 2.0, eps=1e-3)
    torch.testing.assert_close(mod(z1, z2), vicreg(z1, z2, 10.0, 5.0, 2.0, eps=1e-3))
    assert "sim_coeff=10.0" in repr(mod)


def test_bad_inputs():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="need at least 2"):
        vicreg(z[:1], z[:1])
    with pytest.raises(ValueError, match="need at least 2"):
        variance_term(z[:1])
    with pytest.raises(ValueError, match="need at least 2"):
        covariance_term(z[:1])
    with pytest.raises(ValueError, match="shape mismatch"):
        vicreg(z, z[:, :2])
    with pytest.raises(ValueError, match="shape mismatch"):
        invariance_term(z, z[:2])
    with pytest.raises(ValueError, match="NaN/inf"):
        vicreg(z, z.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="eps must be > 0"):
        vicreg(z, z, eps=-1.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        variance_term(z, eps=0.0)
    with pytest.raises(ValueError, match=r"must have shape \(N, D\)"):
        vicreg(z.flatten(), z.flatten())
    with pytest.raises(ValueError, match="eps"):
        VICRegLoss(eps=0)


def test_overflow_is_an_error_not_a_silent_inf():
    # |z| ~ 1e10: the covariance term (~|z|^4 summed) leaves float32; the inputs are finite
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(0)) * 1e10
    with pytest.raises(ValueError, match=r"vicreg overflowed float32 .*\|z\| up to [0-9.]+e\+10"):
        vicreg(z, z + 1.0)
    assert torch.isfinite(vicreg(z * 1e-8, z * 1e-8 + 1.0))  # the same data, scaled down

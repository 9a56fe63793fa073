"""negative_cosine (stop-gradient inside) and GraphMAE's scaled_cosine_error vs explicit sums."""

from __future__ import annotations

import pytest
import torch

from selfsup.losses import (
    NegativeCosineLoss,
    ScaledCosineErrorLoss,
    negative_cosine,
    scaled_cosine_error,
)

TOL = 1e-10


def _leaf(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


def _cos(a, b):
    dim = a.shape[0]
    dot = sum(a[d] * b[d] for d in range(dim))
    return dot / (
        torch.sqrt(sum(a[d] ** 2 for d in range(dim)))
        * torch.sqrt(sum(b[d] ** 2 for d in range(dim)))
    )


def test_negative_cosine_matches_reference_and_stops_gradient():
    p, z = _leaf(5, 4, seed=0), _leaf(5, 4, seed=1)
    loss = negative_cosine(p, z)
    z_const = z.detach()
    ref = sum(2 - 2 * _cos(p[i], z_const[i]) for i in range(5)) / 5
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    (g_loss,) = torch.autograd.grad(loss, p, retain_graph=True)
    (g_ref,) = torch.autograd.grad(ref, p)
    torch.testing.assert_close(g_loss, g_ref, atol=TOL, rtol=0)
    loss.backward()
    assert z.grad is None  # detached inside: nothing reaches the target branch
    assert p.grad is not None


def test_negative_cosine_range_and_symmetric_use():
    p = _leaf(3, 4, seed=2)
    assert negative_cosine(p, p) < 1e-12
    torch.testing.assert_close(negative_cosine(p, -p), torch.tensor(4.0, dtype=torch.float64))
    mod = NegativeCosineLoss()
    torch.testing.assert_close(mod(p, p.roll(1, 0)), negative_cosine(p, p.roll(1, 0)))


@pytest.mark.parametrize("alpha", [1.0, 2.0, 2.5, 3.0])
def test_scaled_cosine_error_matches_reference(alpha):
    x, y = _leaf(6, 4, seed=3), _leaf(6, 4, seed=4)
    loss = scaled_cosine_error(x, y, alpha)
    ref = sum((1 - _cos(x[i], y[i])) ** alpha for i in range(6)) / 6
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    got = torch.autograd.grad(loss, (x, y), retain_graph=True)
    want = torch.autograd.grad(ref, (x, y))
    for g, w in zip(got, want, strict=True):  # no stop-gradient on y
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)


def test_scaled_cosine_error_no_nan_at_perfect_reconstruction():
    x = torch.randn(4, 8, requires_grad=True)
    loss = scaled_cosine_error(x, x.detach() * 3.0, alpha=1.5)
    (g,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(g).all()
    assert loss < 1e-6


def test_module():
    x, y = _leaf(3, 2, seed=5), _leaf(3, 2, seed=6)
    mod = ScaledCosineErrorLoss(3.0)
    torch.testing.assert_close(mod(x, y), scaled_cosine_error(x, y, 3.0))
    assert "alpha=3.0" in repr(mod)


def test_bad_inputs():
    a = torch.randn(4, 3)
    with pytest.raises(ValueError, match="shape mismatch: p=\\(4, 3\\), z=\\(4, 2\\)"):
        negative_cosine(a, a[:, :2])
    with pytest.raises(ValueError, match=r"p must have shape \(N, D\)"):
        negative_cosine(a[None], a[None])
    with pytest.raises(ValueError, match="z contains"):
        negative_cosine(a, a / 0)
    with pytest.raises(ValueError, match="0 row"):
        negative_cosine(a[:0], a[:0])
    with pytest.raises(ValueError, match="alpha must be >= 1"):
        scaled_cosine_error(a, a, 0.5)
    with pytest.raises(ValueError, match="shape mismatch"):
        scaled_cosine_error(a, a[:2])
    with pytest.raises(ValueError, match="y contains"):
        scaled_cosine_error(a, a * float("nan"))
    with pytest.raises(ValueError, match="alpha"):
        ScaledCosineErrorLoss(0.0)

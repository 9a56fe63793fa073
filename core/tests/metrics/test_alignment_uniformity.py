from __future__ import annotations

import math

import pytest
import torch

from selfsup.metrics import alignment, uniformity


def unit(v: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def reference_alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float) -> float:
    total = 0.0
    for a, b in zip(z1.double().tolist(), z2.double().tolist(), strict=True):
        u, v = unit(a), unit(b)
        dist = math.sqrt(sum((x - y) ** 2 for x, y in zip(u, v, strict=True)))
        total += dist**alpha
    return total / z1.shape[0]


def reference_uniformity(z: torch.Tensor, t: float) -> float:
    rows = [unit(r) for r in z.double().tolist()]
    total, pairs = 0.0, 0
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            sq = sum((x - y) ** 2 for x, y in zip(rows[i], rows[j], strict=True))
            total += math.exp(-t * sq)
            pairs += 1
    return math.log(total / pairs)


@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.5, 3.0])
def test_alignment_matches_loop(alpha: float) -> None:
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(12, 5, generator=g, dtype=torch.float64)
    z2 = z1 + 0.3 * torch.randn(12, 5, generator=g, dtype=torch.float64)
    got = alignment(z1, z2, alpha=alpha)
    assert float(got) == pytest.approx(reference_alignment(z1, z2, alpha), rel=1e-10)


@pytest.mark.parametrize("t", [2.0, 0.5])
def test_uniformity_matches_loop(t: float) -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(15, 4, generator=g, dtype=torch.float64)
    assert float(uniformity(z, t=t)) == pytest.approx(reference_uniformity(z, t), rel=1e-10)


def test_known_values() -> None:
    z = torch.randn(8, 3)
    assert float(alignment(z, 5 * z)) == pytest.approx(0.0, abs=1e-6)
    assert float(alignment(z, -z)) == pytest.approx(4.0, rel=1e-5)
    # fully collapsed: every pair at distance 0 -> log(1) = 0
    assert float(uniformity(torch.ones(6, 3))) == pytest.approx(0.0, abs=1e-6)


def test_without_normalisation() -> None:
    z1 = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    z2 = torch.tensor([[0.0, 4.0], [0.0, 0.0]])
    assert float(alignment(z1, z2, normalize=False)) == pytest.approx((16 + 9) / 2)
    assert float(uniformity(z1, t=1.0, normalize=False)) == pytest.approx(-9.0)


def test_gradients_finite_for_identical_pairs() -> None:
    z = torch.randn(6, 4, requires_grad=True)
    for alpha in (2.0, 1.0):
        (grad,) = torch.autograd.grad(alignment(z, z.detach().clone(), alpha=alpha), z)
        assert torch.isfinite(grad).all()
    z_dup = torch.cat([z[:3], z[:3]])
    (grad,) = torch.autograd.grad(uniformity(z_dup), z)
    assert torch.isfinite(grad).all()


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        alignment(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="alpha"):
        alignment(torch.randn(4, 3), torch.randn(4, 3), alpha=0.0)
    with pytest.raises(ValueError, match="row"):
        uniformity(torch.randn(1, 3))
    with pytest.raises(ValueError, match="t must be"):
        uniformity(torch.randn(4, 3), t=-1.0)
    with pytest.raises(ValueError, match="shape"):
        uniformity(torch.randn(4, 3, 2))

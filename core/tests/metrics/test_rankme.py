from __future__ import annotations

import numpy as np
import pytest
import torch

from selfsup.metrics import rankme


def reference_rankme(z: np.ndarray, eps: float) -> float:
    """Independent float64 RankMe: numpy SVD and an explicit entropy sum."""
    sigma = np.linalg.svd(z.astype(np.float64), compute_uv=False)
    total = sum(float(s) for s in sigma)
    entropy = 0.0
    for s in sigma:
        p = float(s) / total + eps
        entropy -= p * np.log(p)
    return float(np.exp(entropy))


@pytest.mark.parametrize("shape", [(64, 8), (8, 64), (33, 33)])
@pytest.mark.parametrize("eps", [1e-7, 0.0, 1e-3])
def test_matches_numpy_reference(shape: tuple[int, int], eps: float) -> None:
    g = torch.Generator().manual_seed(0)
    # anisotropic spectrum so the value is not trivially min(N, D)
    z = torch.randn(*shape, generator=g) * torch.linspace(0.1, 3.0, shape[1])
    got = rankme(z, eps=eps)
    assert got.dtype == torch.float64 and got.dim() == 0
    assert float(got) == pytest.approx(reference_rankme(z.numpy(), eps), rel=1e-10)


def test_identity_has_full_rank() -> None:
    for n, d in [(16, 16), (16, 8), (8, 16)]:
        z = torch.eye(n, d)
        assert float(rankme(z)) == pytest.approx(min(n, d), rel=1e-5)


def test_rank_one_is_about_one() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(128, 1, generator=g) @ torch.randn(1, 32, generator=g)
    assert float(rankme(z)) == pytest.approx(1.0, abs=1e-3)


def test_zero_matrix_is_collapsed_not_nan() -> None:
    value = float(rankme(torch.zeros(10, 4)))
    assert value == pytest.approx(1.0, abs=1e-4)


def test_white_gaussian_close_to_dimension() -> None:
    g = torch.Generator().manual_seed(2)
    value = float(rankme(torch.randn(4096, 16, generator=g)))
    assert 15.5 < value <= 16.0


def test_scale_invariant_and_low_precision_input() -> None:
    g = torch.Generator().manual_seed(3)
    z = torch.randn(50, 10, generator=g)
    assert float(rankme(z * 1024)) == pytest.approx(float(rankme(z)), rel=1e-12)
    assert float(rankme(z.to(torch.bfloat16))) == pytest.approx(float(rankme(z)), rel=1e-2)


def test_gradient_is_finite() -> None:
    z = torch.randn(20, 6, requires_grad=True)
    (grad,) = torch.autograd.grad(rankme(z), z)
    assert grad.shape == z.shape and torch.isfinite(grad).all()


@pytest.mark.parametrize(
    ("z", "match"),
    [
        (torch.randn(10), "shape"),
        (torch.randn(1, 5), "row"),
        (torch.randint(0, 3, (5, 5)), "floating"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), "NaN"),
    ],
)
def test_bad_input(z: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rankme(z)


def test_bad_eps_and_type() -> None:
    with pytest.raises(ValueError, match="eps"):
        rankme(torch.randn(4, 4), eps=-1.0)
    with pytest.raises(TypeError):
        rankme(np.ones((4, 4)))  # type: ignore[arg-type]

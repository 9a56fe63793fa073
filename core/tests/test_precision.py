"""Losses under mixed precision: autocast never reaches inside a loss, half inputs are promoted."""

from __future__ import annotations

import functools

import pytest
import torch

from selfsup import losses as L
from selfsup.precision import accumulation_dtype, autocast_off, promote

TWO_VIEW = {
    "barlow_twins": L.barlow_twins,
    "cross_correlation": lambda a, b: L.cross_correlation(a, b).square().sum(),
    "nt_xent": functools.partial(L.nt_xent, temperature=0.1),
    "info_nce": functools.partial(L.info_nce, temperature=0.1),
    "dcl": functools.partial(L.dcl, temperature=0.1),
    "vicreg": L.vicreg,
    "invariance_term": L.invariance_term,
    "variance_term": lambda a, b: L.variance_term(a) + L.variance_term(b),
    "covariance_term": lambda a, b: L.covariance_term(a) + L.covariance_term(b),
    "negative_cosine": lambda a, b: L.negative_cosine(a, b) + L.negative_cosine(b, a),
    "scaled_cosine_error": L.scaled_cosine_error,
    "latent_regression": lambda a, b: L.latent_regression(a, b, kind="smooth_l1"),
    "similarity_logsumexp": lambda a, b: L.similarity_logsumexp(a, b, 10.0).sum(),
    "matryoshka": lambda a, b: L.matryoshka(L.barlow_twins, a, b, dims=(8, 32)),
}
# Losses whose whole computation is promoted to float32 for half inputs; the similarity
# losses keep half inputs half inside their tiled matmuls (logits promoted per block).
PROMOTED = sorted(set(TWO_VIEW) - {"nt_xent", "info_nce", "dcl", "similarity_logsumexp"})


def views(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    z1 = torch.randn(48, 32, generator=gen)
    z2 = z1 + 0.5 * torch.randn(48, 32, generator=gen)
    return z1.to(dtype).requires_grad_(), z2.to(dtype).requires_grad_()


@pytest.mark.parametrize("name", sorted(TWO_VIEW))
def test_autocast_does_not_change_a_float32_loss(name: str) -> None:
    fn = TWO_VIEW[name]
    z1, z2 = views()
    plain = fn(z1, z2)
    g_plain = torch.autograd.grad(plain, (z1, z2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = fn(z1, z2)
    g_mixed = torch.autograd.grad(mixed, (z1, z2))
    assert mixed.dtype == torch.float32
    # Autocast left on, the bf16 matmuls move these values by 1e-3 (NT-Xent) to 7e-2
    # (Barlow Twins); disabled, only the summation order may differ.
    torch.testing.assert_close(mixed, plain, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_mixed, g_plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", PROMOTED)
def test_bfloat16_inputs_are_computed_in_float32(name: str) -> None:
    fn = TWO_VIEW[name]
    z1, z2 = views(torch.bfloat16)
    loss = fn(z1, z2)
    g = torch.autograd.grad(loss, (z1, z2))
    # float64 reference on exactly the same (bf16-representable) values
    r1, r2 = (z.detach().double().requires_grad_() for z in (z1, z2))
    ref = fn(r1, r2)
    g_ref = torch.autograd.grad(ref, (r1, r2))
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(g, g_ref):
        assert a.dtype == torch.bfloat16  # gradients come back in the inputs' dtype
        # bf16 rounding only: each term's float32 gradient is rounded to bf16 before autograd
        # sums the terms, so the error scales with the largest entry, not with each entry
        torch.testing.assert_close(a.double(), b, rtol=1e-2, atol=1e-2 * float(b.abs().max()))


def test_masked_token_cross_entropy_under_autocast() -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 11, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, 11, (2, 5), generator=gen)
    mask = torch.rand(2, 5, generator=gen) < 0.5
    mask[0, 0] = True
    ref = L.masked_token_cross_entropy(logits, targets, mask)
    half = logits.to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = L.masked_token_cross_entropy(half, targets, mask)
    exact = L.masked_token_cross_entropy(half.double(), targets, mask)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss.double(), exact, rtol=1e-6, atol=1e-6)
    assert abs(float(loss) - float(ref)) < 0.05  # only the inputs' bf16 rounding


def test_autocast_off_restores_the_callers_autocast() -> None:
    seen = []

    @autocast_off
    def probe() -> None:
        seen.append(torch.is_autocast_enabled("cpu"))

    with torch.autocast("cpu", dtype=torch.bfloat16):
        probe()
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    probe()
    assert seen == [False, False]


def test_promote_and_accumulation_dtype() -> None:
    assert accumulation_dtype(torch.bfloat16) == torch.float32
    assert accumulation_dtype(torch.float16) == torch.float32
    assert accumulation_dtype(torch.float64) == torch.float64
    x = torch.ones(3)
    (y,) = promote(x)
    assert y is x  # no copy when already float32
    (h,) = promote(torch.ones(3, dtype=torch.bfloat16))
    assert h.dtype == torch.float32

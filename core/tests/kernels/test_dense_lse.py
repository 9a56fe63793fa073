"""The dense and chunked PyTorch log-sum-exp paths against autograd through the masked formula,
in float64: values and gradients for q, k, a learned scale and a bias, symmetric or not."""

from __future__ import annotations

import pytest
import torch

from selfsup.kernels.lse import similarity_logsumexp
from selfsup.kernels.lse.dense import DenseLogSumExp

F64 = torch.float64
TOL = 1e-10


def _leaf(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64).requires_grad_()


def _reference(q, k, scale, bias, exclude):
    s = scale * (q @ k.T) + (0 if bias is None else bias)
    drop = torch.zeros(s.shape, dtype=torch.bool)
    if exclude is not None:
        for i, row in enumerate(exclude.tolist()):
            for c in row:
                if c >= 0:
                    drop[i, c] = True
    return torch.logsumexp(s.masked_fill(drop, float("-inf")), dim=1)


def _grads(out, inputs):
    return torch.autograd.grad(out, [x for x in inputs if x is not None])


@pytest.mark.parametrize("chunk_size", [None, 2, 5, 64])
@pytest.mark.parametrize("with_bias", [False, True])
def test_queries_against_keys_with_scale_bias_and_padded_exclusions(chunk_size, with_bias):
    q, k = _leaf(6, 4, seed=0), _leaf(9, 4, seed=1)
    scale = torch.tensor(1.7, dtype=F64, requires_grad=True)
    bias = _leaf(9, seed=2) if with_bias else None
    exclude = torch.tensor([[0, -1], [3, 4], [-1, -1], [8, 1], [2, -1], [5, 6]])
    out = similarity_logsumexp(q, k, scale, bias=bias, exclude=exclude, chunk_size=chunk_size)
    ref = _reference(q, k, scale, bias, exclude)
    torch.testing.assert_close(out, ref, atol=TOL, rtol=0)
    w = torch.randn(6, dtype=F64)  # mixed signs
    for got, want in zip(
        _grads((out * w).sum(), [q, k, scale, bias]),
        _grads((ref * w).sum(), [q, k, scale, bias]),
        strict=True,
    ):
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("chunk_size", [None, 3, 64])
@pytest.mark.parametrize("signs", ["positive", "mixed"])
def test_symmetric_gradients_for_any_sign_of_the_upstream_gradient(chunk_size, signs):
    n = 5
    z = _leaf(2 * n, 3, seed=3)
    scale = torch.tensor(0.8, dtype=F64, requires_grad=True)
    idx = torch.arange(2 * n)
    exclude = torch.stack([idx, (idx + n) % (2 * n)], 1)
    out = similarity_logsumexp(z, z, scale, exclude=exclude, symmetric=True, chunk_size=chunk_size)
    ref = _reference(z, z, scale, None, exclude)
    torch.testing.assert_close(out, ref, atol=TOL, rtol=0)
    w = torch.rand(2 * n, dtype=F64) + 0.1
    if signs == "mixed":
        w[::3] = -w[::3]
        w[1] = 0.0
    for got, want in zip(
        _grads((out * w).sum(), [z, scale]), _grads((ref * w).sum(), [z, scale]), strict=True
    ):
        torch.testing.assert_close(got, want, atol=TOL, rtol=0)


def test_dense_function_passes_gradcheck() -> None:
    q, k = _leaf(4, 3, seed=4), _leaf(5, 3, seed=5)
    bias = _leaf(5, seed=6)
    exclude = torch.tensor([[1], [-1], [0], [4]])
    assert torch.autograd.gradcheck(
        lambda q, k, b: DenseLogSumExp.apply(q, k, 1.3, b, exclude, False), (q, k, bias)
    )


def test_dense_path_keeps_one_quadratic_tensor_for_the_backward() -> None:
    z = torch.randn(64, 8, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel()) or t, lambda t: t
    ):
        similarity_logsumexp(z, z, 2.0, exclude=torch.arange(64)[:, None], symmetric=True)
    assert sorted(saved)[-2:] == [64 * 8, 64 * 64]  # z (saved once per slot) and P

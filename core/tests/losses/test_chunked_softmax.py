"""Streamed row log-sum-exp: loop reference, chunked == dense, backends, memory proxy."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.kernels.lse import dispatch as cs
from selfsup.kernels.lse import torch_ref
from selfsup.kernels.lse.dispatch import (
    LSEBackend,
    lse_backends,
    register_lse_backend,
    similarity_logsumexp,
)
from selfsup.losses import dcl, info_nce, nt_xent

TOL = 1e-10


def _leaf(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


def _ref_lse(q, k, scale, bias=None, exclude=None):
    """lse_i = log sum_{j not excluded} exp(scale * sum_d q_id k_jd + b_j), by loops."""
    out = []
    for i in range(q.shape[0]):
        skip = set() if exclude is None else {int(e) for e in exclude[i] if int(e) >= 0}
        terms = []
        for j in range(k.shape[0]):
            if j in skip:
                continue
            s = scale * sum(q[i, d] * k[j, d] for d in range(q.shape[1]))
            if bias is not None:
                s = s + bias[j]
            terms.append(torch.exp(s))
        out.append(torch.log(sum(terms)))
    return torch.stack(out)


def _grads(out, inputs):
    w = torch.linspace(0.5, 1.5, out.shape[0], dtype=out.dtype)  # non-uniform upstream g_i
    return torch.autograd.grad((out * w).sum(), inputs)


N, M, D = 5, 11, 3
EXCLUDE = torch.tensor([[0, 7], [1, -1], [2, 3], [-1, -1], [10, 4]])


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 3, 4, 11, 64])
@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("use_exclude", [False, True])
def test_matches_loop_reference(chunk_size, use_bias, use_exclude):
    q, k = _leaf(N, D, seed=0), _leaf(M, D, seed=1)
    bias = _leaf(M, seed=2) if use_bias else None
    scale = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    exclude = EXCLUDE if use_exclude else None
    inputs = [q, k, scale] + ([bias] if use_bias else [])
    out = similarity_logsumexp(q, k, scale, bias=bias, exclude=exclude, chunk_size=chunk_size)
    ref = _ref_lse(q, k, scale, bias, exclude)
    torch.testing.assert_close(out, ref, atol=TOL, rtol=0)
    for g, r in zip(_grads(out, inputs), _grads(ref, inputs), strict=True):
        torch.testing.assert_close(g, r, atol=TOL, rtol=0)


def test_block_with_every_column_excluded_is_skipped():
    # chunk_size=1: rows 0 and 2 meet blocks where their only column is excluded (m = -inf).
    q, k = _leaf(N, D, seed=3), _leaf(M, D, seed=4)
    out = similarity_logsumexp(q, k, 2.0, exclude=EXCLUDE, chunk_size=1)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, _ref_lse(q, k, 2.0, None, EXCLUDE), atol=TOL, rtol=0)


def test_same_tensor_as_rows_and_columns():
    z = _leaf(6, D, seed=5)
    self_excl = torch.arange(6)[:, None]
    dense = similarity_logsumexp(z, z, 3.0, exclude=self_excl)
    chunked = similarity_logsumexp(z, z, 3.0, exclude=self_excl, chunk_size=4)
    torch.testing.assert_close(chunked, dense, atol=TOL, rtol=0)
    torch.testing.assert_close(_grads(chunked, [z])[0], _grads(dense, [z])[0], atol=TOL, rtol=0)


def test_gradcheck():
    q, k, bias = _leaf(4, 3, seed=6), _leaf(7, 3, seed=7), _leaf(7, seed=8)
    excl = torch.tensor([[0], [1], [5], [-1]])

    def fn(q, k, bias):
        return similarity_logsumexp(q, k, 1.3, bias=bias, exclude=excl, chunk_size=3)

    assert torch.autograd.gradcheck(fn, (q, k, bias))


def test_large_scale_is_stable_in_float32():
    # |S| up to 100 (CLIP's clamp): the online max keeps exp() in range.
    q = torch.nn.functional.normalize(torch.randn(32, 8), dim=1)
    k = torch.nn.functional.normalize(torch.randn(48, 8), dim=1)
    dense = similarity_logsumexp(q.double(), k.double(), 100.0)
    chunked = similarity_logsumexp(q, k, 100.0, chunk_size=5)
    assert torch.isfinite(chunked).all()
    torch.testing.assert_close(chunked.double(), dense, atol=1e-4, rtol=1e-5)


def test_bfloat16_accumulates_in_float32():
    # S entries are rounded to bfloat16 by the matmul (|S| <= 10 here: <= 0.04 each); the
    # running max/sum and lse are float32.
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(16, 8, generator=g), dim=1).bfloat16()
    k = torch.nn.functional.normalize(torch.randn(24, 8, generator=g), dim=1).bfloat16()
    out = similarity_logsumexp(q, k, 10.0, chunk_size=7)
    assert out.dtype == torch.float32
    ref = similarity_logsumexp(q.double(), k.double(), 10.0)
    torch.testing.assert_close(out.double(), ref, atol=0.05, rtol=0)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_chunk_size(bad):
    q = torch.randn(4, 3)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        similarity_logsumexp(q, q, 1.0, chunk_size=bad)


def test_backend_dispatch_and_registry():
    calls = []

    def fwd(*args):
        calls.append("fwd")
        return torch_ref.torch_forward(*args)

    def bwd(*args):
        calls.append("bwd")
        return torch_ref.torch_backward(*args)

    backend = LSEBackend("counting", fwd, bwd, supports=lambda q, k: q.dtype == torch.float64)
    register_lse_backend(backend)
    try:
        assert lse_backends()[0] == "counting"
        with pytest.raises(ValueError, match="already registered"):
            register_lse_backend(backend)
        q = _leaf(4, 3, seed=9)
        similarity_logsumexp(q, q, 1.0, chunk_size=2).sum().backward()
        assert calls == ["fwd", "bwd"]
        similarity_logsumexp(q.detach().float(), q.detach().float(), 1.0, chunk_size=2)
        assert calls == ["fwd", "bwd"]  # float32 not supported -> torch backend
        similarity_logsumexp(
            q.detach().float(), q.detach().float(), 1.0, chunk_size=2, backend="counting"
        )
        assert calls == ["fwd", "bwd", "fwd"]
    finally:
        cs._BACKENDS.pop("counting")
    with pytest.raises(ValueError, match="unknown LSE backend"):
        similarity_logsumexp(q, q, 1.0, chunk_size=2, backend="counting")


# ---- memory proxy: bytes saved for backward ---------------------------------------------


def _saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``fn`` runs."""
    storages: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(storages.values())


def _contrastive(name: str, n: int, chunk_size: int | None):
    g = torch.Generator().manual_seed(n)
    a = torch.randn(n, 16, generator=g).requires_grad_()
    b = torch.randn(n, 16, generator=g).requires_grad_()
    if name == "info_nce":
        return lambda: info_nce(a, b, chunk_size=chunk_size)
    if name == "nt_xent":
        return lambda: nt_xent(a, b, chunk_size=chunk_size)
    return lambda: dcl(a, b, chunk_size=chunk_size)


@pytest.mark.parametrize("name, cols", [("info_nce", 1), ("nt_xent", 2), ("dcl", 2)])
def test_chunked_saved_memory_is_linear_dense_is_quadratic(name, cols):
    sizes = (256, 512)
    chunked = [_saved_bytes(_contrastive(name, n, 64)) for n in sizes]
    dense = [_saved_bytes(_contrastive(name, n, None)) for n in sizes]
    assert 1.7 < chunked[1] / chunked[0] < 2.3, chunked  # O(N * D)
    assert dense[1] / dense[0] > 3.0, dense  # O(N^2)
    n = sizes[1]
    rows, columns = cols * n, cols * n
    assert chunked[1] < 0.25 * rows * columns * 4  # far below one float32 N x M matrix
    assert dense[1] > rows * columns * 4


def test_chunked_function_saves_only_inputs_and_lse():
    q = torch.randn(300, 16).requires_grad_()
    k = torch.randn(500, 16).requires_grad_()
    saved = _saved_bytes(lambda: similarity_logsumexp(q, k, 2.0, chunk_size=64))
    assert saved == (300 * 16 + 500 * 16 + 300) * 4
    assert saved < 300 * 500 * 4 / 10
    assert not math.isnan(saved)


# ---- CUDA (skipped without a GPU) ----------------------------------------------------------

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@requires_cuda
@pytest.mark.parametrize(
    "dtype, tol", [(torch.float64, 1e-10), (torch.float32, 2e-4), (torch.bfloat16, 5e-2)]
)
@pytest.mark.parametrize("name", ["info_nce", "nt_xent", "dcl"])
def test_cuda_chunked_matches_float64_dense(name, dtype, tol):
    g = torch.Generator().manual_seed(0)
    a64 = torch.randn(300, 64, generator=g, dtype=torch.float64)
    b64 = torch.randn(340, 64, generator=g, dtype=torch.float64)
    bias = torch.randn(340, generator=g, dtype=torch.float64)

    def run(a, b, chunk):
        a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
        if name == "info_nce":
            loss = info_nce(
                a, b, 0.1, bias=bias.to(a.device, a.dtype), decoupled=True, chunk_size=chunk
            )
        elif name == "nt_xent":
            loss = nt_xent(a, b[:300], 0.2, chunk_size=chunk)
        else:
            loss = dcl(a, b[:300], 0.1, weight_fn="vmf", chunk_size=chunk)
        loss.backward()
        grad_b = b.grad if b.grad is not None else torch.zeros_like(b)
        return [t.detach().double().cpu() for t in (loss, a.grad, grad_b)]

    ref = run(a64, b64, None)
    got = run(a64.cuda().to(dtype), b64.cuda().to(dtype), 128)
    for x, y in zip(got, ref, strict=True):
        scale = max(1.0, float(y.abs().max()))
        torch.testing.assert_close(x, y, atol=tol * scale, rtol=0)

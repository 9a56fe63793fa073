"""Triton contrastive log-sum-exp kernels in Triton's CPU interpreter vs float64 references.

``TRITON_INTERPRET`` is read when Triton is first imported (its own ``triton.language`` helpers
are ``@triton.jit`` functions decorated then) and when each kernel is defined, so it is set here
at collection time, before anything imports Triton. With CUDA these tests are skipped (the
compiled kernels are tested by ``test_contrastive_cuda.py``) unless ``TRITON_INTERPRET=1`` is
already set. Tiles are 16 x 16 (``kernel_config`` under the interpreter) and the shapes are
not tile multiples, so every masked edge is exercised; float64 end to end (tolerance 1e-10)
plus float32 spot checks.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

from selfsup.imports import module_available

RUN = module_available("triton") and (
    not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"
)
if RUN and "triton" not in sys.modules:
    os.environ["TRITON_INTERPRET"] = "1"
if RUN:
    from selfsup.kernels.lse import triton as kc

    RUN = kc.interpreted()  # False if Triton was imported compiled before this module

pytestmark = pytest.mark.skipif(
    not RUN,
    reason="needs triton in interpreter mode (CPU machine, TRITON_INTERPRET=1 set before triton "
    "is imported; run this file alone if another module imported triton first)",
)

import torch.nn.functional as F  # noqa: E402

from selfsup.kernels.lse import dispatch as cs  # noqa: E402
from selfsup.losses import dcl, info_nce, nt_xent, similarity_logsumexp  # noqa: E402

TOL = 1e-10
F64 = torch.float64


# ---- independent float64 references (materialised logits, explicit masks) ----------------


def ref_lse(q, k, scale, bias=None, exclude=None, key_ids=None, positive=None):
    """lse_i = log sum_{j kept} exp(scale q_i.k_j + b_j); masks built with loops."""
    s = scale * (q @ k.T)
    if bias is not None:
        s = s + bias
    drop = torch.zeros(s.shape, dtype=torch.bool)
    if exclude is not None:
        for i in range(q.shape[0]):
            for c in exclude[i].tolist():
                if c >= 0:
                    drop[i, c] = True
    if key_ids is not None:
        for i in range(q.shape[0]):
            p = int(positive[i])
            for j in range(k.shape[0]):
                if j != p and int(key_ids[j]) == int(key_ids[p]):
                    drop[i, j] = True
    return torch.logsumexp(s.masked_fill(drop, float("-inf")), dim=1)


def ref_info_nce(q, k, tau, bias=None, key_ids=None, decoupled=False):
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    n = q.shape[0]
    s = q @ k.T / tau
    if bias is not None:
        s = s + bias
    pos = s[torch.arange(n), torch.arange(n)]
    drop = torch.zeros(s.shape, dtype=torch.bool)
    for i in range(n):
        for j in range(k.shape[0]):
            if decoupled and j == i:
                drop[i, j] = True
            if key_ids is not None and j != i and int(key_ids[j]) == int(key_ids[i]):
                drop[i, j] = True
    return (torch.logsumexp(s.masked_fill(drop, float("-inf")), dim=1) - pos).mean()


def ref_nt_xent(z1, z2, tau, decoupled=False):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = z.shape[0]
    n = n2 // 2
    s = z @ z.T / tau
    other = (torch.arange(n2) + n) % n2
    pos = s[torch.arange(n2), other]
    drop = torch.eye(n2, dtype=torch.bool)
    if decoupled:
        drop[torch.arange(n2), other] = True
    return (torch.logsumexp(s.masked_fill(drop, float("-inf")), dim=1) - pos).mean()


# ---- helpers -----------------------------------------------------------------------------


def leaf(*shape, seed, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64).to(dtype).requires_grad_()


def weighted_grads(out, inputs):
    w = torch.linspace(0.5, 1.5, out.shape[0], dtype=out.dtype)  # non-uniform upstream g_i
    return torch.autograd.grad((out * w).sum(), inputs)


def two_excluded(n, m):
    # column i and a second column per row; -1 (none) in a few rows
    second = (torch.arange(n) * 7 + 3) % m
    second[::5] = -1
    return torch.stack([torch.arange(n) % m, second], dim=1)


def check_lse(n, m, d, *, bias=False, excl=0, hits=False, dtype=F64, tol=TOL, seed=0):
    q, k = leaf(n, d, seed=seed, dtype=dtype), leaf(m, d, seed=seed + 1, dtype=dtype)
    scale = torch.tensor(1.7, dtype=dtype, requires_grad=True)
    b = leaf(m, seed=seed + 2, dtype=dtype) if bias else None
    exclude = None
    if excl == 1:
        exclude = (torch.arange(n) % m)[:, None]
    elif excl == 2:
        exclude = two_excluded(n, m)
    key_ids = positive = None
    if hits:
        key_ids = torch.randint(0, 6, (m,), generator=torch.Generator().manual_seed(seed))
        positive = torch.arange(n) % m
    inputs = [q, k, scale] + ([b] if bias else [])
    out = similarity_logsumexp(
        q, k, scale, bias=b, exclude=exclude, key_ids=key_ids, positive=positive,
        backend="triton",
    )  # fmt: skip
    assert out.dtype == (F64 if dtype == F64 else torch.float32)
    r_in = [t.detach().double().requires_grad_() for t in inputs]
    ref = ref_lse(r_in[0], r_in[1], r_in[2], r_in[3] if bias else None, exclude, key_ids, positive)
    torch.testing.assert_close(out.double(), ref, atol=tol, rtol=tol)
    for got, want in zip(weighted_grads(out, inputs), weighted_grads(ref, r_in), strict=True):
        torch.testing.assert_close(got.double(), want, atol=tol, rtol=tol)


# ---- kernels vs reference ----------------------------------------------------------------


@pytest.mark.parametrize(
    "n, m, d",
    [(37, 53, 24), (16, 16, 16), (5, 70, 7), (33, 33, 40)],  # partial tiles, D < 16, 2 chunks
)
@pytest.mark.parametrize(
    "features",
    [{}, {"bias": True}, {"excl": 1}, {"excl": 2, "bias": True}, {"hits": True, "excl": 1}],
    ids=["plain", "bias", "exclude1", "exclude2+bias", "hits+exclude1"],
)
def test_lse_values_and_grads_match_float64_reference(n, m, d, features):
    check_lse(n, m, d, **features)


@pytest.mark.parametrize("features", [{"bias": True, "excl": 2}, {"hits": True}])
def test_float32_inputs(features):
    check_lse(29, 45, 20, dtype=torch.float32, tol=2e-5, **features)


@pytest.mark.parametrize("split", [2, 3, 5])
def test_column_splits_merge_exactly(split):
    # forward / dQ column splits (N << M); splits whose columns are all excluded for some
    # rows give a partial lse of -inf
    with kc.override_config(split=split):
        check_lse(9, 80, 24, bias=True, excl=2, hits=True)


@pytest.mark.parametrize("split", [2, 3])
def test_row_splits_of_dk(split):
    # dK / dbias row splits (M << N): partial sums added on the host
    with kc.override_config(split=split):
        check_lse(70, 20, 24, bias=True, excl=2, hits=True)


@pytest.mark.parametrize("max_block_d", [16, 32])
def test_feature_chunks(max_block_d):
    with kc.override_config(max_block_d=max_block_d):
        check_lse(21, 35, 50, bias=True, excl=1)  # 4 / 2 chunks, the last one partial


def test_rectangular_tiles():
    with kc.override_config(block_m=32, block_n=16):
        check_lse(37, 53, 24, bias=True, excl=2, hits=True)


def _gpu_tile_shapes():
    # Every distinct (block_m, block_n, max_block_d) the compiled kernels use for 16-bit inputs,
    # with a D that makes it chunk the features the way it does on the GPU.
    if not RUN:  # collected without Triton (selfsup-core without [kernels]): skipped below
        return []
    shapes = {}
    for d in (300, 200, 100, 64):
        for kind in ("fwd", "dq", "dk", "sym"):
            cfg = kc._gpu_config(kind, torch.bfloat16, d)
            shapes.setdefault((cfg.block_m, cfg.block_n, cfg.max_block_d), d)
    return sorted(shapes.items())


@pytest.mark.parametrize(("tiles", "d"), _gpu_tile_shapes(), ids=str)
def test_gpu_default_tiles_in_the_interpreter(tiles, d):
    # The GPU defaults come from timing sweeps; here each of their tile shapes (for every kernel
    # at once) is checked for values and gradients on partial tiles and feature chunks.
    block_m, block_n, max_block_d = tiles
    with kc.override_config(block_m=block_m, block_n=block_n, max_block_d=max_block_d):
        check_lse(block_m + 7, block_n + 11, d, bias=True, excl=2, hits=True)
        n = block_m // 2 + 5
        z = leaf(2 * n, d, seed=4)
        idx = torch.arange(2 * n)
        exclude = torch.stack([idx, (idx + n) % (2 * n)], dim=1)
        out = similarity_logsumexp(z, z, 1.3, exclude=exclude, symmetric=True, backend="triton")
        (grad,) = weighted_grads(out, [z])
    z_ref = z.detach().clone().requires_grad_()
    ref = ref_lse(z_ref, z_ref, torch.tensor(1.3, dtype=F64), exclude=exclude)
    torch.testing.assert_close(out, ref, atol=TOL, rtol=TOL)
    torch.testing.assert_close(grad, weighted_grads(ref, [z_ref])[0], atol=TOL, rtol=TOL)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("max_block_d", [None, 16])
def test_symmetric_backward(decoupled, max_block_d):
    n, d = 19, 24
    z = leaf(2 * n, d, seed=3)
    scale = torch.tensor(2.3, dtype=F64, requires_grad=True)
    idx = torch.arange(2 * n)
    exclude = idx[:, None]
    if decoupled:
        exclude = torch.stack([idx, (idx + n) % (2 * n)], dim=1)
    overrides = {} if max_block_d is None else {"max_block_d": max_block_d}
    with kc.override_config(**overrides):
        out = similarity_logsumexp(z, z, scale, exclude=exclude, symmetric=True, backend="triton")
        grads = weighted_grads(out, [z, scale])
    z_ref = z.detach().clone().requires_grad_()
    s_ref = scale.detach().clone().requires_grad_()
    ref = ref_lse(z_ref, z_ref, s_ref, exclude=exclude)
    torch.testing.assert_close(out, ref, atol=TOL, rtol=TOL)
    for got, want in zip(grads, weighted_grads(ref, [z_ref, s_ref]), strict=True):
        torch.testing.assert_close(got, want, atol=TOL, rtol=TOL)


def test_large_scale_is_stable_in_float32():
    # |S| up to 100 (CLIP's clamp): the online max keeps exp2() in range.
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(20, 16, generator=g), dim=1)
    k = F.normalize(torch.randn(40, 16, generator=g), dim=1)
    out = similarity_logsumexp(q, k, 100.0, backend="triton")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(
        out.double(), ref_lse(q.double(), k.double(), 100.0), atol=1e-4, rtol=1e-5
    )


def test_more_than_two_excluded_columns_fall_back_to_pytorch():
    q, k = leaf(6, 5, seed=4), leaf(9, 5, seed=5)
    exclude = torch.tensor([[0, 1, 2]] * 6)
    out = similarity_logsumexp(q, k, 1.5, exclude=exclude, backend="triton")
    torch.testing.assert_close(out, ref_lse(q, k, 1.5, exclude=exclude), atol=TOL, rtol=0)


def test_gradcheck_asymmetric():
    q, k, bias = leaf(7, 5, seed=6), leaf(11, 5, seed=7), leaf(11, seed=8)
    scale = torch.tensor(0.9, dtype=F64, requires_grad=True)
    exclude = two_excluded(7, 11)
    key_ids = torch.tensor([0, 1, 2, 0, 3, 1, 4, 5, 2, 6, 0])

    def fn(q, k, scale, bias):
        return similarity_logsumexp(
            q, k, scale, bias=bias, exclude=exclude, key_ids=key_ids,
            positive=torch.arange(7), backend="triton",
        )  # fmt: skip

    assert torch.autograd.gradcheck(fn, (q, k, scale, bias), fast_mode=True)


def test_gradcheck_symmetric():
    z = leaf(10, 6, seed=9)
    scale = torch.tensor(1.3, dtype=F64, requires_grad=True)
    exclude = torch.arange(10)[:, None]

    def fn(z, scale):
        return similarity_logsumexp(z, z, scale, exclude=exclude, symmetric=True, backend="triton")

    assert torch.autograd.gradcheck(fn, (z, scale), fast_mode=True)


def test_no_grad_needed_and_partial_needs():
    q, k = leaf(10, 8, seed=10), leaf(12, 8, seed=11)
    bias = leaf(12, seed=12)
    with torch.no_grad():
        out = similarity_logsumexp(q, k, 2.0, bias=bias, backend="triton")
    torch.testing.assert_close(out, ref_lse(q, k, 2.0, bias), atol=TOL, rtol=0)
    # only the bias needs a gradient: the dK kernel runs for dbias alone
    out = similarity_logsumexp(q.detach(), k.detach(), 2.0, bias=bias, backend="triton")
    (grad,) = torch.autograd.grad(out.sum(), [bias])
    b_ref = bias.detach().clone().requires_grad_()
    (want,) = torch.autograd.grad(ref_lse(q.detach(), k.detach(), 2.0, b_ref).sum(), [b_ref])
    torch.testing.assert_close(grad, want, atol=TOL, rtol=0)


# ---- through the losses (SELFSUP_KERNELS=triton) -------------------------------------------


@pytest.fixture
def force_triton(monkeypatch):
    monkeypatch.setenv("SELFSUP_KERNELS", "triton")


def _loss_and_grads(fn, *tensors):
    leaves = [t.detach().clone().requires_grad_() for t in tensors]
    loss = fn(*leaves)
    return [loss, *torch.autograd.grad(loss, leaves)]


@pytest.mark.parametrize("chunk_size", [None, 8])
@pytest.mark.parametrize("options", [{}, {"decoupled": True}, {"bias": True, "key_ids": True}])
def test_info_nce_through_kernel(force_triton, chunk_size, options):
    q, k = leaf(13, 10, seed=20), leaf(29, 10, seed=21)  # 16 extra negatives
    tau = torch.tensor(0.2, dtype=F64)
    bias = leaf(29, seed=22).detach() if options.get("bias") else None
    key_ids = torch.tensor([i % 9 for i in range(29)]) if options.get("key_ids") else None
    decoupled = options.get("decoupled", False)
    assert cs._select_backend(None, q, k).name == "triton"

    def kernel(q, k, tau):
        return info_nce(
            q, k, tau, bias=bias, key_ids=key_ids, decoupled=decoupled, chunk_size=chunk_size
        )

    def reference(q, k, tau):
        return ref_info_nce(q, k, tau, bias, key_ids, decoupled)

    got = _loss_and_grads(kernel, q, k, tau)
    want = _loss_and_grads(reference, q, k, tau)
    for x, y in zip(got, want, strict=True):
        torch.testing.assert_close(x, y, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("loss", ["nt_xent", "nt_xent_decoupled", "dcl"])
def test_two_view_losses_through_symmetric_kernel(force_triton, loss):
    z1, z2 = leaf(11, 12, seed=30), leaf(11, 12, seed=31)
    tau = torch.tensor(0.3, dtype=F64)
    calls = []
    backward = kc.BACKEND.backward

    def spy(*args, **kwargs):
        calls.append(kwargs.get("symmetric", False))
        return backward(*args, **kwargs)

    patched = cs.LSEBackend("triton", kc.BACKEND.forward, spy, kc.supports, kc.runs_on)
    cs.register_lse_backend(patched, replace=True)
    try:
        if loss == "dcl":
            got = _loss_and_grads(lambda a, b, t: dcl(a, b, t), z1, z2, tau)
        else:
            dec = loss == "nt_xent_decoupled"
            got = _loss_and_grads(lambda a, b, t: nt_xent(a, b, t, decoupled=dec), z1, z2, tau)
    finally:
        cs.register_lse_backend(kc.BACKEND, replace=True)
    assert calls == [True]
    dec = loss != "nt_xent"
    want = _loss_and_grads(lambda a, b, t: ref_nt_xent(a, b, t, decoupled=dec), z1, z2, tau)
    for x, y in zip(got, want, strict=True):
        torch.testing.assert_close(x, y, atol=TOL, rtol=TOL)


def test_env_torch_and_auto_keep_cpu_on_pytorch(monkeypatch):
    q = leaf(4, 3, seed=40)
    monkeypatch.setenv("SELFSUP_KERNELS", "torch")
    assert cs._select_backend(None, q, q).name == "torch"
    monkeypatch.delenv("SELFSUP_KERNELS")
    assert cs._select_backend(None, q, q).name == "torch"  # supports() is CUDA-only
    assert cs._select_backend("triton", q, q).name == "triton"
    assert not kc.supports(q, q) and kc.runs_on(q, q)

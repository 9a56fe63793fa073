"""Compiled Triton contrastive kernels on CUDA (skipped without a GPU).

Accuracy follows the FlashAttention test convention: against a float64 reference, the kernel's
error in bfloat16 / float16 must be at most twice the error of the same PyTorch formula run in
that dtype (plus a small tolerance); float32 is compared directly. Also: large N, feature
chunks (D = 640, 1024), column splits (N << M), determinism (bitwise), dispatch and memory.

Run alone (a fresh process, so that Triton is imported in compiled mode)::

    python -m pytest core/tests/kernels/test_contrastive_cuda.py -q
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selfsup.imports import module_available

CUDA = torch.cuda.is_available() and module_available("triton")
if CUDA:
    from selfsup.kernels.lse import triton as kc

    CUDA = not kc.interpreted()

pytestmark = pytest.mark.skipif(
    not CUDA, reason="needs CUDA and Triton in compiled mode (TRITON_INTERPRET unset)"
)

from selfsup.kernels.lse import dispatch as cs  # noqa: E402
from selfsup.losses import dcl, info_nce, nt_xent  # noqa: E402

DEV = "cuda"


@pytest.fixture(autouse=True)
def _auto_dispatch(monkeypatch):
    monkeypatch.delenv("SELFSUP_KERNELS", raising=False)


# ---- references: materialised logits, any dtype (float64 = ground truth) -----------------


def ref_info_nce(q, k, tau, bias=None, key_ids=None, decoupled=False):
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    n, m = q.shape[0], k.shape[0]
    s = q @ k.T / tau
    if bias is not None:
        s = s + bias.to(s.dtype)
    rows = torch.arange(n, device=q.device)[:, None]
    cols = torch.arange(m, device=q.device)[None, :]
    drop = torch.zeros(n, m, dtype=torch.bool, device=q.device)
    if decoupled:
        drop |= cols == rows
    if key_ids is not None:
        drop |= (key_ids[None, :] == key_ids[:n, None]) & (cols != rows)
    pos = s[rows[:, 0], rows[:, 0]]
    return (torch.logsumexp(s.masked_fill(drop, float("-inf")), dim=1) - pos).mean()


def ref_nt_xent(z1, z2, tau, decoupled=False):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = z.shape[0]
    s = z @ z.T / tau
    idx = torch.arange(n2, device=z.device)
    other = (idx + n2 // 2) % n2
    drop = idx[:, None] == idx[None, :]
    if decoupled:
        drop |= idx[None, :] == other[:, None]
    pos = s[idx, other]
    return (torch.logsumexp(s.masked_fill(drop, float("-inf")), dim=1) - pos).mean()


def loss_and_grads(fn, tensors, dtype):
    """Loss and input gradients with the embeddings in ``dtype``; a 0-d temperature stays
    float32 for 16-bit runs (as a learnable parameter would)."""
    half = dtype in (torch.float16, torch.bfloat16)
    leaves = [
        t.detach()
        .to(DEV, torch.float32 if half and t.dim() == 0 else dtype)
        .requires_grad_(t.requires_grad)
        for t in tensors
    ]
    loss = fn(*leaves)
    wants = [t for t in leaves if t.requires_grad]
    return [loss.detach().double(), *(g.double() for g in torch.autograd.grad(loss, wants))]


def inputs(*shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes]


def assert_flash_convention(kernel, lowp, ref, atol_rel=1e-4):
    """|kernel - ref| <= 2 |lowp - ref| + atol, per output (FlashAttention's test rule)."""
    for got, base, want in zip(kernel, lowp, ref, strict=True):
        scale = float(want.abs().max())
        err, base_err = float((got - want).abs().max()), float((base - want).abs().max())
        assert err <= 2 * base_err + atol_rel * max(scale, 1e-12), (err, base_err, scale)


CASES = {
    # name: (kernel fn, reference fn, tensors builder)
    "info_nce": (
        lambda q, k, t: info_nce(q, k, t),
        lambda q, k, t: ref_info_nce(q, k, t),
        lambda n, d: inputs((n, d), (n + n // 2, d), seed=n + d),
    ),
    "info_nce_bias_hits_decoupled": (
        None,  # built per dtype below (bias / ids live on the device)
        None,
        lambda n, d: inputs((n, d), (n + n // 2, d), seed=n + d + 1),
    ),
    "nt_xent": (
        lambda a, b, t: nt_xent(a, b, t),
        lambda a, b, t: ref_nt_xent(a, b, t),
        lambda n, d: inputs((n, d), (n, d), seed=n + d + 2),
    ),
    "dcl": (
        lambda a, b, t: dcl(a, b, t),
        lambda a, b, t: ref_nt_xent(a, b, t, decoupled=True),
        lambda n, d: inputs((n, d), (n, d), seed=n + d + 3),
    ),
}


def _fns(name, n):
    kernel, ref, build = CASES[name]
    if kernel is None:
        m = n + n // 2
        g = torch.Generator().manual_seed(7)
        bias = (0.3 * torch.randn(m, generator=g, dtype=torch.float64)).to(DEV)
        ids = torch.randint(0, n // 4, (m,), generator=g).to(DEV)

        def kernel(q, k, t):
            return info_nce(q, k, t, bias=bias.to(q.dtype), key_ids=ids, decoupled=True)

        def ref(q, k, t):
            return ref_info_nce(q, k, t, bias, ids, decoupled=True)

    return kernel, ref, build


def run_case(name, n, d, dtype):
    kernel, ref, build = _fns(name, n)
    a, b = build(n, d)
    tau = torch.tensor(0.1, dtype=torch.float64).requires_grad_()
    tensors = [a.requires_grad_(), b.requires_grad_(), tau]
    got = loss_and_grads(kernel, tensors, dtype)  # auto dispatch: the Triton kernel
    want = loss_and_grads(ref, tensors, torch.float64)
    lowp = loss_and_grads(ref, tensors, dtype)
    return got, lowp, want


# ---- accuracy ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    "name, n, d",
    [
        ("info_nce", 1000, 384),
        ("info_nce_bias_hits_decoupled", 777, 200),
        ("nt_xent", 1000, 256),
        ("dcl", 600, 640),  # 3 feature chunks
    ],
)
def test_half_precision_flash_attention_convention(name, n, d, dtype):
    got, lowp, want = run_case(name, n, d, dtype)
    assert_flash_convention(got, lowp, want)


@pytest.mark.parametrize("name", ["info_nce", "nt_xent"])
def test_large_batch_bfloat16(name):
    got, lowp, want = run_case(name, 5000, 384, torch.bfloat16)
    assert_flash_convention(got, lowp, want)


@pytest.mark.parametrize(
    "name, n, d",
    [("info_nce", 500, 96), ("info_nce_bias_hits_decoupled", 333, 130), ("dcl", 300, 64)],
)
def test_float32_ieee(name, n, d):
    assert torch.get_float32_matmul_precision() == "highest"
    got, _, want = run_case(name, n, d, torch.float32)
    for x, y in zip(got, want, strict=True):
        torch.testing.assert_close(x, y, atol=2e-5 * float(y.abs().max()), rtol=1e-4)


def test_float32_tf32_follows_torch_setting():
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        assert kc._precision(torch.float32) == "tf32"
        got, lowp, want = run_case("nt_xent", 700, 128, torch.float32)
    finally:
        torch.set_float32_matmul_precision(old)
    assert_flash_convention(got, lowp, want, atol_rel=3e-3)


def test_feature_dim_1024_and_column_splits():
    # N << M: few row tiles, so the forward / dQ kernels split the columns.
    q, k = inputs((96, 1024), (20000, 1024), seed=11)
    tau = torch.tensor(0.07, dtype=torch.float64).requires_grad_()
    tensors = [q.requires_grad_(), k.requires_grad_(), tau]
    cfg = kc.kernel_config("fwd", torch.bfloat16, 1024)
    assert kc._splits(triton_cdiv(96, cfg.block_m), 20000, cfg, torch.device(DEV)) > 1
    got = loss_and_grads(lambda a, b, t: info_nce(a, b, t), tensors, torch.bfloat16)
    lowp = loss_and_grads(ref_info_nce, tensors, torch.bfloat16)
    want = loss_and_grads(ref_info_nce, tensors, torch.float64)
    assert_flash_convention(got, lowp, want)


def triton_cdiv(a, b):
    return -(-a // b)


# ---- determinism, dispatch, memory -------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 30000, 128), (3000, 3000, 256)])
def test_bitwise_deterministic(shape):
    n, m, d = shape
    q, k = inputs((n, d), (m, d), seed=12)
    z1, z2 = inputs((n, d), (n, d), seed=13)

    def once():
        a = [t.to(DEV, torch.bfloat16).requires_grad_() for t in (q, k, z1, z2)]
        l1 = info_nce(a[0], a[1], 0.1, bias=torch.linspace(-1, 1, m, device=DEV))
        l2 = nt_xent(a[2], a[3], 0.2)
        return [l1, l2, *torch.autograd.grad(l1 + l2, a)]

    first, second = once(), once()
    for x, y in zip(first, second, strict=True):
        assert torch.equal(x, y)


def test_auto_dispatch_picks_triton_on_cuda(monkeypatch):
    q = torch.randn(64, 32, device=DEV, dtype=torch.bfloat16)
    assert cs._select_backend(None, q, q).name == "triton"
    assert cs._select_backend(None, q.double(), q.double()).name == "torch"  # float64
    monkeypatch.setenv("SELFSUP_KERNELS", "torch")
    assert cs._select_backend(None, q, q).name == "torch"
    monkeypatch.delenv("SELFSUP_KERNELS")
    calls = []
    forward = kc.BACKEND.forward

    def spy(*args, **kwargs):
        calls.append(args[5])  # chunk_size
        return forward(*args, **kwargs)

    cs.register_lse_backend(
        cs.LSEBackend("triton", spy, kc.BACKEND.backward, kc.supports, kc.runs_on), replace=True
    )
    try:
        info_nce(q, q + 0.1)
        info_nce(q, q + 0.1, chunk_size=16)
        nt_xent(q, q + 0.1)
    finally:
        cs.register_lse_backend(kc.BACKEND, replace=True)
    assert calls == [None, 16, None]


def test_more_than_two_excluded_columns_fall_back_to_pytorch():
    q = torch.randn(50, 16, device=DEV, dtype=torch.float64)
    idx = torch.arange(50, device=DEV)
    exclude = torch.stack([idx, (idx + 1) % 50, (idx + 2) % 50], 1)
    out = cs.similarity_logsumexp(q.float(), q.float(), 2.0, exclude=exclude)
    s = (2.0 * q @ q.T).masked_fill(
        torch.zeros(50, 50, dtype=torch.bool, device=DEV).scatter(1, exclude, True), float("-inf")
    )
    torch.testing.assert_close(out.double(), torch.logsumexp(s, 1), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("name", ["info_nce", "nt_xent"])
def test_memory_is_linear_in_n(name):
    n, d = 16384, 128
    a = torch.randn(n, d, device=DEV, dtype=torch.bfloat16, requires_grad=True)
    b = torch.randn(n, d, device=DEV, dtype=torch.bfloat16, requires_grad=True)
    fn = info_nce if name == "info_nce" else nt_xent
    fn(a, b).backward()  # compile outside the measurement
    torch.cuda.synchronize()
    a.grad = b.grad = None
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn(a, b).backward()
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base
    rows = n if name == "info_nce" else 2 * n
    assert extra < 0.1 * rows * rows * 2, extra  # far below one bf16 N x N matrix

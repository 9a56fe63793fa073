"""gather_visible / scatter_with_mask_token: both backends against float64 loop references.

Without CUDA the Triton kernels run in Triton's interpreter. Triton 3.8 reads
``TRITON_INTERPRET`` (``triton.knobs.runtime.interpret``, from ``os.environ`` on every access)
when ``@triton.jit`` runs: for these kernels when ``selfsup.kernels._masking_triton`` is first
imported (lazily, on the first Triton call), for ``triton.language``'s own ``@jit`` helpers when
``triton`` is imported (the kernels avoid those). It is set here at collection time, before any
test runs. With CUDA the same tests run the compiled kernels on the GPU (fp32/fp64); bf16 and
large sizes are GPU-only.
"""

from __future__ import annotations

import os

import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

from selfsup.imports import module_available  # noqa: E402
from selfsup.kernels.masking import gather_visible, scatter_with_mask_token  # noqa: E402

HAS_TRITON = module_available("triton")
DEVICE = torch.device("cuda" if CUDA else "cpu")
BACKENDS = [
    "torch",
    pytest.param("triton", marks=pytest.mark.skipif(not HAS_TRITON, reason="no triton")),
]
needs_cuda = pytest.mark.skipif(not (CUDA and HAS_TRITON), reason="needs CUDA and Triton")

# (B, L, D, K): D not a power of two, K not a block multiple, K = L, K = 0, several L splits
SHAPES = [(2, 13, 37, 5), (3, 50, 100, 17), (1, 7, 1, 7), (2, 9, 16, 0), (2, 300, 300, 77)]


def keep_positions(b: int, n_tok: int, k: int, seed: int, dtype=torch.long) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randperm(n_tok, generator=g)[:k] for _ in range(b)]  # distinct, unsorted
    return torch.stack(rows).to(dtype) if k else torch.zeros(b, 0, dtype=dtype)


def ref_gather(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(keep.shape[0], keep.shape[1], x.shape[2], dtype=torch.float64)
    for b in range(keep.shape[0]):
        for j in range(keep.shape[1]):
            out[b, j] = x[b, int(keep[b, j])].double()
    return out


def ref_gather_grad(g: torch.Tensor, keep: torch.Tensor, n_tok: int) -> torch.Tensor:
    grad = torch.zeros(g.shape[0], n_tok, g.shape[2], dtype=torch.float64)
    for b in range(keep.shape[0]):
        for j in range(keep.shape[1]):
            grad[b, int(keep[b, j])] += g[b, j].double()
    return grad


def ref_scatter(
    v: torch.Tensor, keep: torch.Tensor, token: torch.Tensor, n_tok: int
) -> torch.Tensor:
    out = token.double().reshape(1, 1, -1).repeat(v.shape[0], n_tok, 1)
    for b in range(keep.shape[0]):
        for j in range(keep.shape[1]):
            out[b, int(keep[b, j])] = v[b, j].double()
    return out


def ref_scatter_grads(g: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    grad_v = torch.zeros(keep.shape[0], keep.shape[1], g.shape[2], dtype=torch.float64)
    grad_t = torch.zeros(g.shape[2], dtype=torch.float64)
    for b in range(g.shape[0]):
        kept = {int(p): j for j, p in enumerate(keep[b])}
        for pos in range(g.shape[1]):
            if pos in kept:
                grad_v[b, kept[pos]] = g[b, pos].double()
            else:
                grad_t += g[b, pos].double()
    return grad_v, grad_t


def tol(dtype: torch.dtype) -> dict:
    return {"rtol": 0, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-6, "atol": 1e-5}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_gather_values_and_grad(shape, dtype, backend) -> None:
    b, n_tok, d, k = shape
    g = torch.Generator().manual_seed(n_tok)
    x = torch.randn(b, n_tok, d, generator=g, dtype=dtype)
    keep = keep_positions(b, n_tok, k, seed=d)
    upstream = torch.randn(b, k, d, generator=g, dtype=dtype)
    xd = x.to(DEVICE).requires_grad_()
    out = gather_visible(xd, keep.to(DEVICE), backend=backend)
    assert out.shape == (b, k, d) and out.dtype == dtype
    assert torch.equal(out.double().cpu(), ref_gather(x, keep))  # pure copies: exact
    (grad,) = torch.autograd.grad(out, xd, upstream.to(DEVICE))
    assert torch.equal(grad.double().cpu(), ref_gather_grad(upstream, keep, n_tok))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_scatter_values_and_grads(shape, dtype, backend) -> None:
    b, n_tok, d, k = shape
    g = torch.Generator().manual_seed(n_tok + 1)
    v = torch.randn(b, k, d, generator=g, dtype=dtype)
    token = torch.randn(1, 1, d, generator=g, dtype=dtype)
    keep = keep_positions(b, n_tok, k, seed=d + 1)
    upstream = torch.randn(b, n_tok, d, generator=g, dtype=dtype)
    vd, td = v.to(DEVICE).requires_grad_(), token.to(DEVICE).requires_grad_()
    out = scatter_with_mask_token(vd, keep.to(DEVICE), td, n_tok, backend=backend)
    assert out.shape == (b, n_tok, d) and out.dtype == dtype
    assert torch.equal(out.double().cpu(), ref_scatter(v, keep, token, n_tok))
    grad_v, grad_t = torch.autograd.grad(out, (vd, td), upstream.to(DEVICE))
    ref_v, ref_t = ref_scatter_grads(upstream, keep)
    assert torch.equal(grad_v.double().cpu(), ref_v)
    assert grad_t.shape == token.shape
    torch.testing.assert_close(grad_t.double().cpu().reshape(-1), ref_t, **tol(dtype))


@pytest.mark.skipif(not HAS_TRITON, reason="no triton")
def test_triton_layouts_int32_index_and_mixed_token_dtype() -> None:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(3, 40, 2 * 24, generator=g, dtype=torch.float64)
    x = base[:, :, ::2].to(DEVICE)  # feature stride 2
    keep = keep_positions(3, 40, 11, seed=1, dtype=torch.int32).to(DEVICE)
    out = gather_visible(x, keep, backend="triton")
    assert torch.equal(out, gather_visible(x, keep, backend="torch"))
    xt = base[:, :, :24].transpose(0, 1).contiguous().transpose(0, 1).to(DEVICE)  # (B, L) strides
    assert xt.stride() == (24, 3 * 24, 1)
    assert torch.equal(gather_visible(xt, keep, backend="triton"), gather_visible(xt, keep))
    # upstream of out.sum() is an expanded (all-stride-0) tensor
    xr = x.detach().requires_grad_()
    (grad,) = torch.autograd.grad(gather_visible(xr, keep, backend="triton").sum(), xr)
    assert torch.equal(grad.cpu(), ref_gather_grad(torch.ones(3, 11, 24), keep.cpu(), 40))
    # fp32 token with fp64 tokens: values cast, gradient back in fp32
    v = out.detach().requires_grad_()
    token = torch.randn(24, generator=g).to(DEVICE).requires_grad_()
    full = scatter_with_mask_token(v, keep, token, 40, backend="triton")
    grad_v, grad_t = torch.autograd.grad(full.sum(), (v, token))
    assert torch.equal(full, scatter_with_mask_token(v, keep, token, 40, backend="torch"))
    assert grad_t.dtype == torch.float32
    torch.testing.assert_close(grad_t, torch.full_like(token, 3 * (40 - 11)))
    assert torch.equal(grad_v, torch.ones_like(v))


@pytest.mark.skipif(not HAS_TRITON, reason="no triton")
def test_triton_gradcheck() -> None:
    g = torch.Generator().manual_seed(1)
    keep = keep_positions(2, 9, 4, seed=2).to(DEVICE)
    x = torch.randn(2, 9, 5, generator=g, dtype=torch.float64).to(DEVICE).requires_grad_()
    v = torch.randn(2, 4, 5, generator=g, dtype=torch.float64).to(DEVICE).requires_grad_()
    t = torch.randn(5, generator=g, dtype=torch.float64).to(DEVICE).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: gather_visible(x, keep, backend="triton"), (x,), fast_mode=True
    )
    assert torch.autograd.gradcheck(
        lambda v, t: scatter_with_mask_token(v, keep, t, 9, backend="triton"),
        (v, t),
        fast_mode=True,
    )


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 5, 3)
    keep = torch.tensor([[0, 2], [4, 1]])
    monkeypatch.setenv("SELFSUP_KERNELS", "bogus")
    with pytest.raises(ValueError, match="SELFSUP_KERNELS"):
        gather_visible(x, keep)
    monkeypatch.setenv("SELFSUP_KERNELS", "torch")
    assert torch.equal(gather_visible(x, keep), x[torch.arange(2)[:, None], keep])
    with pytest.raises(ValueError, match="backend must be one of"):
        gather_visible(x, keep, backend="cuda")
    if HAS_TRITON:  # the environment asks for Triton: CPU tensors still work (interpreter or torch)
        monkeypatch.setenv("SELFSUP_KERNELS", "triton")
        assert torch.equal(gather_visible(x, keep), x[torch.arange(2)[:, None], keep])


def test_bad_input() -> None:
    x = torch.randn(2, 6, 4)
    keep = torch.tensor([[0, 3], [5, 1]])
    with pytest.raises(ValueError, match=r"shape \(B, L, D\)"):
        gather_visible(x[0], keep)
    with pytest.raises(ValueError, match="keep_idx must have shape"):
        gather_visible(x, keep[:1])
    with pytest.raises(ValueError, match="int64 or int32"):
        gather_visible(x, keep.float())
    with pytest.raises(ValueError, match="floating point"):
        gather_visible(x.long(), keep)
    with pytest.raises(TypeError):
        gather_visible(x.tolist(), keep)
    v = gather_visible(x, keep)
    token = torch.zeros(4)
    with pytest.raises(ValueError, match="num_tokens"):
        scatter_with_mask_token(v, keep, token, 1)
    with pytest.raises(ValueError, match="D = 4 elements"):
        scatter_with_mask_token(v, keep, torch.zeros(5), 6)
    with pytest.raises(ValueError, match="positions per sample"):
        scatter_with_mask_token(v, keep[:, :1], token, 6)
    with pytest.raises(ValueError, match="floating point"):
        scatter_with_mask_token(v, keep, token.long(), 6)


@needs_cuda
@pytest.mark.parametrize("n_tok", [196, 1024])
def test_cuda_bf16_large_matches_torch(n_tok: int) -> None:
    from selfsup.kernels import _masking_triton

    if _masking_triton.INTERPRETED:
        pytest.skip("kernels were created under TRITON_INTERPRET=1; run GPU tests without it")
    b, d, k = 256, 768, n_tok // 4
    g = torch.Generator(device="cuda").manual_seed(n_tok)
    x = torch.randn(b, n_tok, d, device="cuda", generator=g, dtype=torch.bfloat16)
    keep = torch.rand(b, n_tok, device="cuda", generator=g).argsort(dim=1)[:, :k].sort(dim=1).values
    token = torch.randn(d, device="cuda", generator=g, requires_grad=True)  # fp32 parameter
    outs, grads = {}, {}
    for backend in ("torch", "triton"):
        xr = x.detach().requires_grad_()
        tok = token.detach().requires_grad_()
        vis = gather_visible(xr, keep, backend=backend)
        full = scatter_with_mask_token(vis * 2, keep, tok, n_tok, backend=backend)
        up = torch.randn(
            b, n_tok, d, device="cuda", dtype=torch.bfloat16, generator=g.manual_seed(1)
        )
        grads[backend] = torch.autograd.grad(full, (xr, tok), up)
        outs[backend] = (vis, full, up)
    assert torch.equal(outs["torch"][0], outs["triton"][0])
    assert torch.equal(outs["torch"][1], outs["triton"][1])
    assert torch.equal(grads["torch"][0], grads["triton"][0])  # pure copies (x2) in bf16
    # mask-token gradient: fp32 reference of the bf16 upstream over the masked positions
    up = outs["torch"][2].float()
    masked = torch.ones(b, n_tok, dtype=torch.bool, device="cuda").scatter_(1, keep, False)
    ref = (up * masked[..., None]).sum((0, 1))
    err_triton = (grads["triton"][1] - ref).abs().max()
    err_torch = (grads["torch"][1] - ref).abs().max()
    assert float(err_triton) <= 2 * float(err_torch) + 1e-3  # FA-style: no worse than PyTorch


def test_gather_tokens_backend_argument() -> None:
    from selfsup.masking import gather_tokens

    x = torch.randn(2, 9, 4, dtype=torch.float64).to(DEVICE)
    keep = keep_positions(2, 9, 3, seed=0).to(DEVICE)
    backend = "triton" if HAS_TRITON else "torch"
    assert torch.equal(gather_tokens(x, keep, backend=backend), gather_tokens(x, keep))
    assert torch.equal(
        gather_tokens(x[..., None], keep, backend="torch")[..., 0], gather_tokens(x, keep)
    )
    with pytest.raises(ValueError, match="needs a floating"):
        gather_tokens(x[..., None], keep, backend="triton")

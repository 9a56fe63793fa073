"""Triton kernels behind :mod:`selfsup.kernels.masking` (imported on first Triton call only).

Only ``tl.load``/``tl.store`` with pointer arithmetic and masks, no block pointers, TMA or
autotuning, so the same source runs on Triton 3.6 and 3.8 and under ``TRITON_INTERPRET=1``
(which Triton reads when ``@triton.jit`` runs, i.e. when this module is first imported).
``triton.language``'s own ``@jit`` helpers (``tl.zeros``, ``tl.sum``, ...) are created when
``triton`` is imported, in the mode of that moment; the kernels use ``tl.full`` and, when
``tl.sum``'s mode differs from theirs, ``tl.reduce`` with their own combine function (slow in the
interpreter, one call per program), so ``TRITON_INTERPRET=1`` set after ``import triton`` but
before this module is imported still works.

Two kernels cover the four directions:

* ``_gather_rows_kernel``: ``out[b, r] = src[b, idx[b, r]]`` if ``0 <= idx[b, r] < S`` else
  ``fill`` (or zero). Forward gather (``idx = keep_idx``), forward scatter with a mask token
  (``idx`` = inverse index, ``fill`` = mask token), backward of the gather (inverse index, zero
  fill: every output row written once, no zero-fill pass, no atomics) and the visible part of the
  scatter's backward (``idx = keep_idx``).
* ``_masked_rows_sum_kernel``: per-program partial sums of the rows whose inverse index is ``-1``
  (the mask-token gradient); only those rows are loaded. Partials are summed in PyTorch, in a
  fixed order, so the result is deterministic.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["INTERPRETED", "GatherVisible", "ScatterWithMaskToken", "inverse_index"]

_TILE = 4096  # elements per program tile (rows x columns)
_MAX_BLOCK_D = 256
_SUM_ITERS = 8  # row blocks per program in the masked sum


@triton.jit
def _gather_rows_kernel(
    src_ptr,
    idx_ptr,
    fill_ptr,
    out_ptr,
    R,
    S,
    D,
    n_row_blocks,
    stride_sb,
    stride_sl,
    stride_sd,
    stride_ib,
    stride_ir,
    stride_ob,
    stride_or,
    stride_od,
    HAS_FILL: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    pid = tl.program_id(0)
    b = (pid // n_row_blocks).to(tl.int64)
    rows = (pid % n_row_blocks) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    row_ok = rows < R
    col_ok = cols < D
    src_row = tl.load(idx_ptr + b * stride_ib + rows * stride_ir, mask=row_ok, other=-1)
    src_row = src_row.to(tl.int64)
    valid = row_ok & (src_row >= 0) & (src_row < S)
    src = src_ptr + b * stride_sb + src_row[:, None] * stride_sl + cols[None, :] * stride_sd
    vals = tl.load(src, mask=valid[:, None] & col_ok[None, :], other=0)
    if HAS_FILL:
        fill = tl.load(fill_ptr + cols, mask=col_ok, other=0)
        vals = tl.where(valid[:, None], vals, fill[None, :])
    out = (
        out_ptr + b * stride_ob + rows[:, None].to(tl.int64) * stride_or + cols[None, :] * stride_od
    )
    tl.store(out, vals, mask=row_ok[:, None] & col_ok[None, :])


@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def _masked_rows_sum_kernel(
    src_ptr,
    inv_ptr,
    part_ptr,
    L,
    D,
    n_splits,
    stride_sb,
    stride_sl,
    stride_sd,
    stride_ib,
    stride_il,
    ITERS: tl.constexpr,
    BLOCK_L: tl.constexpr,
    BLOCK_D: tl.constexpr,
    ACC_FP64: tl.constexpr,
    USE_TL_SUM: tl.constexpr,
):
    pid = tl.program_id(0)
    b = (pid // n_splits).to(tl.int64)
    first = (pid % n_splits) * (ITERS * BLOCK_L)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    col_ok = cols < D
    if ACC_FP64:
        acc = tl.full((BLOCK_L, BLOCK_D), 0, dtype=tl.float64)
    else:
        acc = tl.full((BLOCK_L, BLOCK_D), 0, dtype=tl.float32)
    for it in range(ITERS):
        rows = first + it * BLOCK_L + tl.arange(0, BLOCK_L)
        row_ok = rows < L
        j = tl.load(inv_ptr + b * stride_ib + rows * stride_il, mask=row_ok, other=0)
        masked = row_ok & (j < 0)
        src = src_ptr + b * stride_sb + rows[:, None].to(tl.int64) * stride_sl
        g = tl.load(
            src + cols[None, :] * stride_sd, mask=masked[:, None] & col_ok[None, :], other=0
        )
        acc += g.to(acc.dtype)
    if USE_TL_SUM:
        total = tl.sum(acc, axis=0)
    else:  # interpreter with triton imported before TRITON_INTERPRET=1 was set
        total = tl.reduce(acc, 0, _add)
    tl.store(part_ptr + pid.to(tl.int64) * D + cols, total, mask=col_ok)


def _kernel_is_interpreted() -> bool:
    return not isinstance(_gather_rows_kernel, triton.runtime.JITFunction)


#: True when the kernels were created under ``TRITON_INTERPRET=1`` (CPU simulation).
INTERPRETED = _kernel_is_interpreted()
# tl.sum is a @jit helper made when triton was imported; usable unless its mode differs from ours
_USE_TL_SUM = INTERPRETED != isinstance(tl.sum, triton.runtime.JITFunction)


def _block_d(d: int) -> int:
    return min(_MAX_BLOCK_D, max(16, triton.next_power_of_2(d)))


def gather_rows(src: Tensor, idx: Tensor, fill: Tensor | None) -> Tensor:
    """``out[b, r] = src[b, idx[b, r]]`` (``fill`` or zero where the index is out of range)."""
    n_b, n_r = idx.shape
    d = src.shape[2]
    out = torch.empty(n_b, n_r, d, dtype=src.dtype, device=src.device)
    if out.numel() == 0:
        return out
    if src.numel() == 0:  # K = 0: nothing to read (and no valid pointer to pass)
        return out.zero_() if fill is None else out.copy_(fill.expand_as(out))
    block_d = _block_d(d)
    block_r = max(1, min(_TILE // block_d, triton.next_power_of_2(n_r)))
    n_row_blocks = triton.cdiv(n_r, block_r)
    grid = (n_b * n_row_blocks, triton.cdiv(d, block_d))
    _gather_rows_kernel[grid](
        src,
        idx,
        src if fill is None else fill,
        out,
        n_r,
        src.shape[1],
        d,
        n_row_blocks,
        *src.stride(),
        *idx.stride(),
        *out.stride(),
        HAS_FILL=fill is not None,
        BLOCK_R=block_r,
        BLOCK_D=block_d,
        num_warps=4,
    )
    return out


def masked_rows_sum(src: Tensor, inv: Tensor) -> Tensor:
    """``sum over b, l with inv[b, l] < 0 of src[b, l]``, accumulated in fp32 (fp64 for fp64)."""
    n_b, n_l, d = src.shape
    fp64 = src.dtype == torch.float64
    acc_dtype = torch.float64 if fp64 else torch.float32
    if src.numel() == 0:
        return torch.zeros(d, dtype=acc_dtype, device=src.device)
    block_d = _block_d(d)
    block_l = max(1, min(_TILE // block_d, triton.next_power_of_2(n_l)))
    iters = min(_SUM_ITERS, triton.cdiv(n_l, block_l))
    n_splits = triton.cdiv(n_l, iters * block_l)
    part = torch.empty(n_b * n_splits, d, dtype=acc_dtype, device=src.device)
    grid = (n_b * n_splits, triton.cdiv(d, block_d))
    _masked_rows_sum_kernel[grid](
        src,
        inv,
        part,
        n_l,
        d,
        n_splits,
        *src.stride(),
        *inv.stride(),
        ITERS=iters,
        BLOCK_L=block_l,
        BLOCK_D=block_d,
        ACC_FP64=fp64,
        USE_TL_SUM=_USE_TL_SUM,
        num_warps=4,
    )
    return part.sum(0)


def inverse_index(keep_idx: Tensor, num_tokens: int) -> Tensor:
    """``inv[b, keep_idx[b, j]] = j``, ``-1`` at masked positions; int32 ``(B, L)``.

    Built with ``scatter_``, which checks that positions lie in ``[0, L)`` (on CUDA via a
    device-side assert).
    """
    n_b, n_k = keep_idx.shape
    inv = torch.full((n_b, num_tokens), -1, dtype=torch.int32, device=keep_idx.device)
    src = torch.arange(n_k, dtype=torch.int32, device=keep_idx.device).expand(n_b, n_k)
    return inv.scatter_(1, keep_idx.long(), src)


def _last_dim_contiguous(x: Tensor) -> Tensor:
    # Triton specialises a stride equal to 1, so keep the feature dimension dense.
    return x if x.stride(-1) == 1 else x.contiguous()


class GatherVisible(torch.autograd.Function):
    """``x[b, keep_idx[b, j]]``; backward writes ``grad_x`` through the inverse index."""

    @staticmethod
    def forward(ctx, x: Tensor, keep_idx: Tensor) -> Tensor:
        ctx.save_for_backward(keep_idx)
        ctx.num_tokens = x.shape[1]
        ctx.mark_non_differentiable(keep_idx)
        return gather_rows(_last_dim_contiguous(x), keep_idx, None)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        (keep_idx,) = ctx.saved_tensors
        inv = inverse_index(keep_idx, ctx.num_tokens)
        return gather_rows(_last_dim_contiguous(grad), inv, None), None


class ScatterWithMaskToken(torch.autograd.Function):
    """Visible tokens at ``keep_idx``, ``mask_token`` elsewhere; fused masked-sum backward."""

    @staticmethod
    def forward(
        ctx, visible: Tensor, keep_idx: Tensor, mask_token: Tensor, num_tokens: int
    ) -> Tensor:
        inv = inverse_index(keep_idx, num_tokens)
        ctx.save_for_backward(keep_idx, inv)
        ctx.token_dtype = mask_token.dtype
        fill = mask_token.to(visible.dtype).contiguous()  # cast here, not in the kernel
        return gather_rows(_last_dim_contiguous(visible), inv, fill)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        keep_idx, inv = ctx.saved_tensors
        grad = _last_dim_contiguous(grad)
        grad_visible = grad_token = None
        if ctx.needs_input_grad[0]:
            grad_visible = gather_rows(grad, keep_idx, None)
        if ctx.needs_input_grad[2]:
            grad_token = masked_rows_sum(grad, inv).to(ctx.token_dtype)
        return grad_visible, None, grad_token, None

"""Row-wise log-sum-exp of a scaled similarity matrix, dense or streamed in column blocks.

Every contrastive loss in :mod:`selfsup.losses` splits into an O(N) positive term and a
row-wise log-sum-exp (Inf-CL, arXiv 2410.17243, Eq. 2):

.. math::

    \\ell_i = \\operatorname{lse}_i - S_{i, y_i}, \\qquad
    \\operatorname{lse}_i = \\log \\sum_{j \\notin E_i} \\exp(S_{ij}), \\qquad
    S_{ij} = s \\, q_i \\cdot k_j + b_j

with scale ``s = 1 / temperature``, an optional per-column bias ``b`` and per-row excluded
columns ``E_i`` (self-similarity, the positive in decoupled losses). Only the log-sum-exp is
quadratic. :func:`similarity_logsumexp` computes it densely (autograd, O(N·M) saved) or, with
``chunk_size``, through :class:`ChunkedLogSumExp`: the forward streams column blocks of ``K``
keeping a running max and sum (online log-sum-exp) and saves only the inputs and the ``lse``
vector; the backward recomputes each block,

.. math::

    P_{ij} = \\exp(S_{ij} - \\operatorname{lse}_i), \\quad
    dq_i = s \\, g_i \\sum_j P_{ij} k_j, \\quad
    dk_j = s \\sum_i P_{ij} (g_i q_i), \\quad
    db_j = \\sum_i g_i P_{ij}, \\quad
    ds = \\sum_i g_i \\, q_i \\cdot \\sum_j P_{ij} k_j,

so the extra memory is O(N·chunk). The positive term's gradient is left to autograd.

The maths of one pass lives in an :class:`LSEBackend` (a ``forward``/``backward`` pair).
The PyTorch backend here runs anywhere; a fused GPU kernel (e.g. Triton) registers itself
with :func:`register_lse_backend` and is picked whenever its ``supports(q, k)`` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "ChunkedLogSumExp",
    "LSEBackend",
    "lse_backends",
    "register_lse_backend",
    "similarity_logsumexp",
]

_NEG_INF = float("-inf")


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulation dtype: float32 for half inputs, the input dtype otherwise."""
    return torch.promote_types(dtype, torch.float32)


def _excluded(exclude: Tensor | None, start: int, stop: int, device: torch.device) -> Tensor | None:
    """Boolean ``(N, stop - start)`` mask of excluded columns ``start..stop-1`` (None: none)."""
    if exclude is None or exclude.shape[1] == 0:
        return None
    cols = torch.arange(start, stop, device=device)
    hit = exclude[:, :1] == cols
    for e in range(1, exclude.shape[1]):
        hit |= exclude[:, e : e + 1] == cols
    return hit


def _block_logits(
    q: Tensor,
    k_blk: Tensor,
    scale: float | Tensor,
    bias_blk: Tensor | None,
    exclude: Tensor | None,
    start: int,
) -> Tensor:
    """``S[:, start:start+c]`` in the accumulation dtype, excluded entries at ``-inf``."""
    acc = _acc_dtype(q.dtype)
    s = (q @ k_blk.T).to(acc)
    s = s * (scale.to(acc) if isinstance(scale, Tensor) else scale)
    if bias_blk is not None:
        s = s + bias_blk.to(acc)
    hit = _excluded(exclude, start, start + k_blk.shape[0], q.device)
    return s if hit is None else s.masked_fill(hit, _NEG_INF)


def _torch_forward(
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    bias: Tensor | None,
    exclude: Tensor | None,
    chunk_size: int,
) -> Tensor:
    """Online log-sum-exp over column blocks of ``k``; returns ``lse`` ``(N,)``."""
    acc = _acc_dtype(q.dtype)
    m = torch.full((q.shape[0],), _NEG_INF, dtype=acc, device=q.device)
    total = torch.zeros_like(m)
    for start in range(0, k.shape[0], chunk_size):
        stop = min(start + chunk_size, k.shape[0])
        s = _block_logits(
            q, k[start:stop], scale, None if bias is None else bias[start:stop], exclude, start
        )
        m_new = torch.maximum(m, s.amax(dim=1))
        # A row whose columns so far are all excluded keeps m = -inf: shift by 0, not by -inf.
        shift = torch.where(m_new == _NEG_INF, torch.zeros_like(m_new), m_new)
        total = total * torch.exp(m - shift) + torch.exp(s - shift[:, None]).sum(dim=1)
        m = m_new
    return m + torch.log(total)


def _torch_backward(
    grad_lse: Tensor,
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    bias: Tensor | None,
    exclude: Tensor | None,
    lse: Tensor,
    chunk_size: int,
    needs: tuple[bool, bool, bool, bool],
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """Recompute blocks; return ``(dq, dk, dscale, dbias)`` (None where not needed)."""
    acc = _acc_dtype(q.dtype)
    g = grad_lse.to(acc)
    gq = (g[:, None] * q.to(acc)).to(q.dtype)  # g folded into q: no tiny g*P products
    pk = torch.zeros(q.shape, dtype=acc, device=q.device)  # sum_j P_ij k_j
    dk = torch.empty(k.shape, dtype=acc, device=k.device) if needs[1] else None
    dbias = torch.empty(k.shape[0], dtype=acc, device=k.device) if needs[3] else None
    for start in range(0, k.shape[0], chunk_size):
        stop = min(start + chunk_size, k.shape[0])
        k_blk = k[start:stop]
        s = _block_logits(
            q, k_blk, scale, None if bias is None else bias[start:stop], exclude, start
        )
        p = torch.exp(s - lse[:, None])
        p_c = p.to(q.dtype)
        if needs[0] or needs[2]:
            pk += (p_c @ k_blk).to(acc)
        if dk is not None:
            dk[start:stop] = (p_c.T @ gq).to(acc)
        if dbias is not None:
            dbias[start:stop] = (g[:, None] * p).sum(dim=0)
    s_acc = scale.to(acc) if isinstance(scale, Tensor) else scale
    dq = (s_acc * g[:, None] * pk).to(q.dtype) if needs[0] else None
    dk = (s_acc * dk).to(k.dtype) if dk is not None else None
    dscale = (g * (q.to(acc) * pk).sum(dim=1)).sum() if needs[2] else None
    dbias = dbias.to(bias.dtype) if dbias is not None and bias is not None else None
    return dq, dk, dscale, dbias


@dataclass(frozen=True)
class LSEBackend:
    """One implementation of the chunked log-sum-exp pass.

    Attributes:
        name: registry key (``"torch"``, ``"triton"``, ...).
        forward: ``(q, k, scale, bias, exclude, chunk_size) -> lse`` with ``lse`` ``(N,)`` in
            float32 or wider.
        backward: ``(grad_lse, q, k, scale, bias, exclude, lse, chunk_size, needs) ->
            (dq, dk, dscale, dbias)``; ``needs`` flags which of the four are required
            (return None for the others).
        supports: ``(q, k) -> bool``; whether this backend handles these inputs (device,
            dtype, alignment). Checked most-recently-registered first.
    """

    name: str
    forward: Callable[..., Tensor]
    backward: Callable[..., tuple[Tensor | None, ...]]
    supports: Callable[[Tensor, Tensor], bool] = lambda q, k: True


_BACKENDS: dict[str, LSEBackend] = {
    "torch": LSEBackend("torch", _torch_forward, _torch_backward),
}


def register_lse_backend(backend: LSEBackend, *, replace: bool = False) -> None:
    """Make ``backend`` available to :func:`similarity_logsumexp` (preferred when it supports
    the inputs). Raises ValueError if the name is taken and ``replace`` is False."""
    if backend.name in _BACKENDS and not replace:
        raise ValueError(
            f"an LSE backend named {backend.name!r} is already registered; "
            "pass replace=True to override it."
        )
    _BACKENDS.pop(backend.name, None)
    _BACKENDS[backend.name] = backend


def lse_backends() -> list[str]:
    """Names of the registered backends, most preferred first."""
    return list(reversed(_BACKENDS))


def _select_backend(name: str | None, q: Tensor, k: Tensor) -> LSEBackend:
    if name is not None:
        if name not in _BACKENDS:
            raise ValueError(f"unknown LSE backend {name!r}; registered: {lse_backends()}.")
        return _BACKENDS[name]
    for backend in reversed(_BACKENDS.values()):
        if backend.supports(q, k):
            return backend
    return _BACKENDS["torch"]


class ChunkedLogSumExp(torch.autograd.Function):
    """Autograd function for the streamed row log-sum-exp (see the module docstring).

    Saves ``q``, ``k``, ``bias``, ``exclude`` and ``lse`` only (O((N + M)·D)); every block of
    the N×M similarity matrix is recomputed in the backward.
    """

    @staticmethod
    def forward(ctx, q, k, scale, bias, exclude, chunk_size, backend):  # type: ignore[override]
        lse = backend.forward(q, k, scale, bias, exclude, chunk_size)
        scale_t = scale if isinstance(scale, Tensor) else None
        ctx.save_for_backward(q, k, scale_t, bias, exclude, lse)
        ctx.scale = None if scale_t is not None else scale
        ctx.chunk_size = chunk_size
        ctx.backend = backend
        return lse

    @staticmethod
    def backward(ctx, grad_lse):  # type: ignore[override]
        q, k, scale_t, bias, exclude, lse = ctx.saved_tensors
        scale = scale_t if scale_t is not None else ctx.scale
        needs = tuple(ctx.needs_input_grad[:4])
        dq, dk, dscale, dbias = ctx.backend.backward(
            grad_lse.contiguous(), q, k, scale, bias, exclude, lse, ctx.chunk_size, needs
        )
        if dscale is not None and scale_t is not None:
            dscale = dscale.to(scale_t.dtype).reshape(scale_t.shape)
        return dq, dk, dscale, dbias, None, None, None


def check_chunk_size(chunk_size: int | None) -> None:
    """Require ``chunk_size`` to be None or a positive int."""
    if chunk_size is None:
        return
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(
            f"chunk_size must be a positive int (columns per block) or None for the dense "
            f"path, got {chunk_size!r}."
        )


def similarity_logsumexp(
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    *,
    bias: Tensor | None = None,
    exclude: Tensor | None = None,
    chunk_size: int | None = None,
    backend: str | None = None,
) -> Tensor:
    """Row log-sum-exp ``lse_i = log sum_{j not in E_i} exp(scale * q_i . k_j + b_j)``.

    Args:
        q: row vectors (queries / anchors).
        k: column vectors (keys / candidates).
        scale: ``1 / temperature``; a float, or a 0-d tensor (gradients flow to it on both paths).
        bias: optional per-column logit bias added after scaling (e.g. logQ ``-log p_j``).
        exclude: optional int64 ``(N, E)`` column indices dropped from row ``i``'s sum;
            ``-1`` entries are ignored. Every row must keep at least one column.
        chunk_size: None for the dense path (materialises ``S``); otherwise the number of
            columns per block of the streamed path (:class:`ChunkedLogSumExp`).
        backend: force a registered :class:`LSEBackend` by name (chunked path only).

    Shapes:
        q: ``(N, D)``; k: ``(M, D)``; bias: ``(M,)``; exclude: ``(N, E)`` -> ``(N,)``, in
        float32 or wider.

    Raises:
        ValueError: for a non-positive ``chunk_size`` or an unknown backend.
    """
    check_chunk_size(chunk_size)
    if chunk_size is None:
        s = _block_logits(q, k, scale, bias, exclude, 0)
        return torch.logsumexp(s, dim=1)
    chosen = _select_backend(backend, q, k)
    return ChunkedLogSumExp.apply(q, k, scale, bias, exclude, chunk_size, chosen)

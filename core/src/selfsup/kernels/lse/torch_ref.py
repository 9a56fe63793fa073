"""PyTorch reference of the row log-sum-exp, dense or streamed in column blocks: the
``"torch"`` LSE backend (runs anywhere).

Every softmax contrastive loss of :mod:`selfsup.losses` splits into an O(N) positive term and a
row-wise log-sum-exp (Inf-CL, arXiv 2410.17243, Eq. 2):

.. math::

    \\ell_i = \\operatorname{lse}_i - S_{i, y_i}, \\qquad
    \\operatorname{lse}_i = \\log \\sum_{j \\notin E_i} \\exp(S_{ij}), \\qquad
    S_{ij} = s \\, q_i \\cdot k_j + b_j

with scale ``s = 1 / temperature``, an optional per-column bias ``b`` and per-row excluded
columns ``E_i`` (self-similarity, the positive in decoupled losses). Only the log-sum-exp is
quadratic. :func:`~selfsup.kernels.lse.similarity_logsumexp` computes it densely (autograd on
:func:`block_logits`, O(N·M) saved) or, with ``chunk_size``, through
:class:`~selfsup.kernels.lse.ChunkedLogSumExp`, whose ``"torch"`` backend is this module:
:func:`torch_forward` streams column blocks of ``K`` keeping a running max and sum (online
log-sum-exp) and saves only the inputs and the ``lse`` vector; :func:`torch_backward`
recomputes each block,

.. math::

    P_{ij} = \\exp(S_{ij} - \\operatorname{lse}_i), \\quad
    dq_i = s \\, g_i \\sum_j P_{ij} k_j, \\quad
    dk_j = s \\sum_i P_{ij} (g_i q_i), \\quad
    db_j = \\sum_i g_i P_{ij}, \\quad
    ds = \\sum_i g_i \\, q_i \\cdot \\sum_j P_{ij} k_j,

so the extra memory is O(N·chunk). The positive term's gradient is left to autograd.

Masks: ``exclude`` drops listed columns per row; ``hits``
(:class:`~selfsup.kernels.lse.AccidentalHits`) drops accidental hits (:func:`excluded_mask`).
With ``symmetric=True`` (``q is k``, a symmetric mask, no bias) :func:`torch_backward` is one
pass, ``dz_a = s sum_b (g_a P_ab + g_b exp(S_ab - lse_b)) z_b``.

The Triton backend (:mod:`selfsup.kernels.lse.triton`) falls back to these functions for inputs
its kernels do not take.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from selfsup.precision import accumulation_dtype

if TYPE_CHECKING:
    from selfsup.kernels.lse.dispatch import AccidentalHits

__all__ = ["block_logits", "drop_excluded", "excluded_mask", "torch_backward", "torch_forward"]

_NEG_INF = float("-inf")


def excluded_mask(
    exclude: Tensor | None,
    start: int,
    stop: int,
    device: torch.device,
    hits: AccidentalHits | None = None,
) -> Tensor | None:
    """Boolean ``(N, stop - start)`` mask of dropped columns ``start..stop-1`` (None: none)."""
    cols = torch.arange(start, stop, device=device)
    hit = None
    if exclude is not None and exclude.shape[1] > 0:
        hit = exclude[:, :1] == cols
        for e in range(1, exclude.shape[1]):
            hit |= exclude[:, e : e + 1] == cols
    if hits is not None:
        acc = (hits.key_ids[start:stop] == hits.row_ids[:, None]) & (cols != hits.positive[:, None])
        hit = acc if hit is None else hit | acc
    return hit


def drop_excluded(s: Tensor, exclude: Tensor, start: int = 0) -> None:
    """Set ``s[i, j - start] = -inf`` in place for every ``j = exclude[i, e]`` inside the block
    ``start .. start + s.shape[1] - 1`` (``-1`` entries fall outside): O(N·E) writes, no
    ``N x c`` mask."""
    inside = (exclude >= start) & (exclude < start + s.shape[1])
    rows, e = inside.nonzero(as_tuple=True)
    s[rows, exclude[rows, e] - start] = _NEG_INF


def block_logits(
    q: Tensor,
    k_blk: Tensor,
    scale: float | Tensor,
    bias_blk: Tensor | None,
    exclude: Tensor | None,
    start: int,
    hits: AccidentalHits | None = None,
) -> Tensor:
    """``S[:, start:start+c]`` in the accumulation dtype, dropped entries at ``-inf``."""
    acc = accumulation_dtype(q.dtype)
    s = (q @ k_blk.T).to(acc)
    s = s * (scale.to(acc) if isinstance(scale, Tensor) else scale)
    if bias_blk is not None:
        s = s + bias_blk.to(acc)
    hit = excluded_mask(exclude, start, start + k_blk.shape[0], q.device, hits)
    return s if hit is None else s.masked_fill(hit, _NEG_INF)


def _scaled(q: Tensor, scale: float | Tensor, acc: torch.dtype) -> Tensor:
    """``scale * q`` in ``q``'s dtype, computed once so no block multiplies its logits."""
    if isinstance(scale, Tensor):
        return (q.to(acc) * scale.to(acc)).to(q.dtype)
    return q * scale


class _Blocks:
    """Logit blocks ``S[:, start:start + c]`` from the pre-scaled ``qs``, in ``acc``, dropped
    entries at ``-inf``, written into one reused buffer (a fresh ``N x c`` tensor per block
    costs page faults comparable to the arithmetic on the CPU).

    Exclusions are written by index (O(N·E) per block) instead of through an ``N x c`` mask."""

    def __init__(
        self,
        qs: Tensor,
        k: Tensor,
        bias: Tensor | None,
        exclude: Tensor | None,
        hits: AccidentalHits | None,
        acc: torch.dtype,
        chunk: int,
    ) -> None:
        self.qs, self.k, self.bias, self.hits, self.acc = qs, k, bias, hits, acc
        self.exclude = exclude if exclude is not None and exclude.numel() else None
        self.buffer = (
            torch.empty(qs.shape[0] * min(chunk, k.shape[0]), dtype=acc, device=qs.device)
            if qs.dtype == acc
            else None
        )

    def __call__(self, start: int, stop: int) -> Tensor:
        k_blk = self.k[start:stop]
        if self.buffer is not None:
            out = self.buffer[: self.qs.shape[0] * (stop - start)].view(-1, stop - start)
            s = torch.mm(self.qs, k_blk.T, out=out)
        else:
            s = (self.qs @ k_blk.T).to(self.acc)
        if self.bias is not None:
            s += self.bias[start:stop].to(self.acc)
        if self.exclude is not None:
            drop_excluded(s, self.exclude, start)
        if self.hits is not None:
            s.masked_fill_(excluded_mask(None, start, stop, s.device, self.hits), _NEG_INF)
        return s


def torch_forward(
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    bias: Tensor | None,
    exclude: Tensor | None,
    chunk_size: int | None,
    *,
    hits: AccidentalHits | None = None,
) -> Tensor:
    """Online log-sum-exp over column blocks of ``k``; returns ``lse`` ``(N,)``."""
    acc = accumulation_dtype(q.dtype)
    chunk = chunk_size or max(k.shape[0], 1)
    blocks = _Blocks(_scaled(q, scale, acc), k, bias, exclude, hits, acc, chunk)
    m = torch.full((q.shape[0], 1), _NEG_INF, dtype=acc, device=q.device)
    total = torch.zeros_like(m)
    for start in range(0, k.shape[0], chunk):
        s = blocks(start, min(start + chunk, k.shape[0]))
        m_new = torch.maximum(m, s.amax(dim=1, keepdim=True))
        # A row whose columns so far are all excluded keeps m = -inf: shift by 0, not by -inf.
        shift = m_new.masked_fill(m_new == _NEG_INF, 0.0)
        total.mul_(torch.exp(m - shift)).add_(s.sub_(shift).exp_().sum(dim=1, keepdim=True))
        m = m_new
    return (m + torch.log(total)).squeeze(1)


def torch_backward(
    grad_lse: Tensor,
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    bias: Tensor | None,
    exclude: Tensor | None,
    lse: Tensor,
    chunk_size: int | None,
    needs: tuple[bool, bool, bool, bool],
    *,
    hits: AccidentalHits | None = None,
    symmetric: bool = False,
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """Recompute blocks; return ``(dq, dk, dscale, dbias)`` (None where not needed).

    With ``symmetric`` (``q is k``) one pass gives the whole gradient as ``dq``:
    ``dz_a = s sum_b (g_a P_ab + g_b P_ba) z_b`` with ``P_ba = exp(S_ab - lse_b)``, and
    ``dscale = (1/2) sum_a z_a . sum_b (g_a P_ab + g_b P_ba) z_b``.
    """
    acc = accumulation_dtype(q.dtype)
    chunk = chunk_size or max(k.shape[0], 1)
    g = grad_lse.to(acc)
    s_acc = scale.to(acc) if isinstance(scale, Tensor) else scale
    blocks = _Blocks(_scaled(q, scale, acc), k, bias, exclude, hits, acc, chunk)
    if symmetric:
        # g_a P_ab = exp(S_ab - lse_a + log g_a) when every g_a > 0 (a mean of the losses): the
        # factor rides in the exponent and costs no pass of its own
        positive = bool((g > 0).all())
        shift = lse - g.log() if positive else lse
        total = torch.zeros(q.shape, dtype=acc, device=q.device)
        a_buffer = torch.empty_like(blocks.buffer) if blocks.buffer is not None else None
        for start in range(0, k.shape[0], chunk):
            stop = min(start + chunk, k.shape[0])
            s = blocks(start, stop)
            a = torch.empty_like(s) if a_buffer is None else a_buffer[: s.numel()].view_as(s)
            torch.sub(s, shift[:, None], out=a).exp_()
            s.sub_(shift[start:stop]).exp_()
            if not positive:
                a.mul_(g[:, None])
                s.mul_(g[start:stop])
            a += s
            total += (a.to(q.dtype) @ k[start:stop]).to(acc)
        dz = (s_acc * total).to(q.dtype) if needs[0] or needs[1] else None
        dscale = 0.5 * (q.to(acc) * total).sum() if needs[2] else None
        return dz, None, dscale, None
    gq = (g[:, None] * q.to(acc)).to(q.dtype)  # g folded into q: no tiny g*P products
    pk = torch.zeros(q.shape, dtype=acc, device=q.device)  # sum_j P_ij k_j
    dk = torch.empty(k.shape, dtype=acc, device=k.device) if needs[1] else None
    dbias = torch.empty(k.shape[0], dtype=acc, device=k.device) if needs[3] else None
    for start in range(0, k.shape[0], chunk):
        stop = min(start + chunk, k.shape[0])
        k_blk = k[start:stop]
        p = blocks(start, stop).sub_(lse[:, None]).exp_()
        p_c = p.to(q.dtype)
        if needs[0] or needs[2]:
            pk += (p_c @ k_blk).to(acc)
        if dk is not None:
            dk[start:stop] = (p_c.T @ gq).to(acc)
        if dbias is not None:
            dbias[start:stop] = g @ p
    dq = (s_acc * g[:, None] * pk).to(q.dtype) if needs[0] else None
    dk = (s_acc * dk).to(k.dtype) if dk is not None else None
    dscale = (g * (q.to(acc) * pk).sum(dim=1)).sum() if needs[2] else None
    dbias = dbias.to(bias.dtype) if dbias is not None and bias is not None else None
    return dq, dk, dscale, dbias

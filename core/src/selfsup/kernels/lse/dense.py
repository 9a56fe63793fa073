"""The dense row log-sum-exp on one ``N x M`` buffer: the PyTorch backend's ``chunk_size=None``
path.

Autograd through ``logsumexp(masked_fill(scale * q @ k.T))`` keeps the logits, a boolean mask
and the log-sum-exp input alive and builds three more ``N x M`` tensors in the backward. The
plain five-line NT-Xent (matmul, ``fill_diagonal_``, ``cross_entropy``) holds two. This path
holds one: the logits are computed into a buffer that the forward turns, in place, into the
softmax ``P`` (saved for the backward), and excluded entries are set by index, not by a mask:

.. math::

    S = (s\\,q)\\,k^\\top + b, \\quad S_{i,E_i} = -\\infty, \\quad
    \\operatorname{lse}_i = m_i + \\log \\sum_j e^{S_{ij} - m_i}, \\quad
    P_{ij} = e^{S_{ij} - \\operatorname{lse}_i}

and the backward is two matrix products with ``P``, no ``N x M`` temporary:

.. math::

    dq = s\\,g \\odot (P k), \\quad dk = s\\,P^\\top (g \\odot q), \\quad
    db = P^\\top g, \\quad ds = \\textstyle\\sum_i g_i\\, q_i \\cdot (P k)_i

For ``symmetric`` inputs (``k is q``: NT-Xent, DCL without gathering) ``dz = dq + dk``
(2 products). Float32/float64 inputs without accidental-hit ids; anything else takes the
autograd path (:func:`selfsup.kernels.lse.torch_ref.block_logits`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from selfsup.kernels.lse.torch_ref import drop_excluded

__all__ = ["DenseLogSumExp", "dense_supported"]

_NEG_INF = float("-inf")


def dense_supported(q: Tensor, k: Tensor) -> bool:
    """Whether :class:`DenseLogSumExp` takes these inputs (float32 / float64, one dtype)."""
    return q.dtype in (torch.float32, torch.float64) and k.dtype == q.dtype


class DenseLogSumExp(torch.autograd.Function):
    """``apply(q, k, scale, bias, exclude, symmetric) -> lse (N,)``; saves ``q``, ``k`` and the
    softmax ``P`` (one ``N x M`` tensor).

    Examples:
        >>> q, k = torch.randn(4, 3), torch.randn(5, 3)
        >>> lse = DenseLogSumExp.apply(q, k, 2.0, None, None, False)
        >>> torch.allclose(lse, torch.logsumexp(2.0 * q @ k.T, dim=1))
        True
    """

    @staticmethod
    def forward(ctx, q, k, scale, bias, exclude, symmetric):  # type: ignore[override]
        s = (q * scale) @ k.T
        if bias is not None:
            s += bias
        if exclude is not None and exclude.numel():
            drop_excluded(s, exclude)
        m = s.amax(dim=1, keepdim=True)
        # a row with every column dropped keeps m = -inf: shift it by 0, not by -inf
        m.masked_fill_(m == _NEG_INF, 0.0)
        p = s.sub_(m).exp_()
        total = p.sum(dim=1, keepdim=True)
        p.div_(total)
        lse = (m + total.log()).squeeze(1)
        scale_t = scale if isinstance(scale, Tensor) else None
        ctx.save_for_backward(q, k, p, scale_t)
        ctx.scale = None if scale_t is not None else scale
        ctx.symmetric = symmetric
        ctx.bias_dtype = None if bias is None else bias.dtype
        return lse

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_lse):  # type: ignore[override]
        q, k, p, scale_t = ctx.saved_tensors
        scale = scale_t if scale_t is not None else ctx.scale
        need_q, need_k, need_scale, need_bias = ctx.needs_input_grad[:4]
        g = grad_lse.to(p.dtype)[:, None]
        pk = p @ k if (need_q or need_scale or ctx.symmetric) else None
        dq = dk = dscale = dbias = None
        if need_q or (ctx.symmetric and need_k):
            dq = (scale * g) * pk
        if need_k or ctx.symmetric:
            pt_gq = p.T @ (g * q)
            if ctx.symmetric:
                dq = dq + scale * pt_gq if dq is not None else scale * pt_gq
            else:
                dk = scale * pt_gq
        if need_scale:
            dscale = (g * q * pk).sum().to(scale_t.dtype).reshape(scale_t.shape)
        if need_bias:
            dbias = (p.T @ g).squeeze(1).to(ctx.bias_dtype)
        return dq, dk, dscale, dbias, None, None

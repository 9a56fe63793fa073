"""Distributed helpers that are exact no-ops without ``torch.distributed``.

Contrastive and statistics losses need tensors from every rank. The gathers here
keep the autograd graph intact: the backward of :func:`gather` sums the incoming
gradients over all ranks (``all_reduce``) and returns this rank's slice, so each
rank receives the gradient its samples contribute to *every* rank's loss. This is
the piece lightly (#1528) and others shipped wrong; ``tests/distributed`` checks it
against a single process on the concatenated batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "all_reduce_sum",
    "default_gather",
    "gather",
    "gather_no_grad",
    "is_distributed",
    "rank",
    "world_size",
]


def is_distributed() -> bool:
    """Return whether a process group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of ranks, 1 without an initialised process group."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank, 0 without an initialised process group."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def default_gather(gather_flag: bool | None) -> bool:
    """Resolve a loss's ``gather`` switch: ``None`` means "gather when distributed"."""
    if gather_flag is None:
        return is_distributed()
    return bool(gather_flag) and is_distributed()


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.batch = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.batch
        return grad[start : start + ctx.batch]


class _AllReduceSumWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        out = x.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        # d(sum_r x_r)/dx_own = 1 for the loss on every rank: the total gradient on
        # x_own is the sum of every rank's upstream gradient.
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def gather(x: Tensor) -> Tensor:
    """Concatenate ``x`` from all ranks along dim 0, keeping gradients.

    Every rank must pass a tensor of the same shape.

    Shapes:
        x: ``(B, *)`` -> ``(W * B, *)``; rank ``r``'s rows are ``[r * B, (r + 1) * B)``.
    """
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)


def gather_no_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from all ranks along dim 0 without a backward (e.g. teacher keys)."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts, dim=0)


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum ``x`` over ranks; autograd-aware (each rank gets the summed upstream gradient)."""
    if not is_distributed():
        return x
    return _AllReduceSumWithGrad.apply(x)

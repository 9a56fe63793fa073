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
    "broadcast_from_zero",
    "default_gather",
    "gather",
    "gather_no_grad",
    "gather_round_robin",
    "gather_rows",
    "global_mean_weight",
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


def gather_rows(x: Tensor) -> Tensor:
    """Concatenate ``x`` from all ranks along dim 0 when ranks hold different numbers of rows.

    No backward (for monitors and probes). Rows are padded to the longest rank's count for one
    ``all_gather`` and the padding is cut off again; every rank gets the same result.

    Shapes:
        x: ``(B_r, *)`` on rank ``r`` (same trailing shape and dtype everywhere) ->
        ``(sum_r B_r, *)``, rank 0's rows first.

    Examples:
        >>> gather_rows(torch.ones(3, 2)).shape  # one process: unchanged
        torch.Size([3, 2])
    """
    if not is_distributed():
        return x
    x = x.detach().contiguous()
    count = torch.tensor([x.shape[0]], device=x.device)
    counts = [torch.empty_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    sizes = [int(c) for c in counts]
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)])


def gather_round_robin(parts: list[Tensor]) -> Tensor:
    """Reassemble batches dealt round-robin over ranks, in their original order.

    Rank ``r`` holds batches ``r, r + W, r + 2W, ...`` of one sequence (``parts``, possibly
    empty on a rank with nothing dealt to it); every rank gets the whole sequence concatenated
    in batch order, as one process that had read every batch would. Used to shard evaluation
    passes (probes) over ranks without changing their result.

    Shapes:
        parts: a list of ``(B_i, *)`` tensors (same trailing shape and dtype on every rank) ->
        ``(sum_i B_i, *)``.

    Raises:
        ValueError: when no rank holds any batch.

    Examples:
        >>> gather_round_robin([torch.zeros(2, 4), torch.ones(1, 4)]).shape  # one process
        torch.Size([3, 4])
    """
    world = world_size()
    if world == 1:
        if not parts:
            raise ValueError("gather_round_robin: no batch on any rank.")
        return torch.cat(parts)
    # Trailing shape, dtype and per-batch sizes travel as objects: a rank may hold no batch.
    meta = (
        [int(p.shape[0]) for p in parts],
        (tuple(parts[0].shape[1:]), parts[0].dtype) if parts else None,
    )
    metas: list = [None] * world
    dist.all_gather_object(metas, meta)
    known = [m[1] for m in metas if m[1] is not None]
    if not known:
        raise ValueError("gather_round_robin: no batch on any rank.")
    trailing, dtype = known[0]
    device = parts[0].device if parts else _collective_device()
    local = torch.cat(parts) if parts else torch.empty((0, *trailing), dtype=dtype, device=device)
    rows = gather_rows(local)
    # split the gathered rows back into (rank, local batch) pieces, then deal them in order
    pieces: list[list[Tensor]] = []
    offset = 0
    for sizes, _ in metas:
        pieces.append(list(rows[offset : offset + sum(sizes)].split(sizes)) if sizes else [])
        offset += sum(sizes)
    total = sum(len(p) for p in pieces)
    return torch.cat([pieces[i % world][i // world] for i in range(total)])


def broadcast_from_zero(obj: object) -> object:
    """Rank 0's ``obj`` on every rank (pickled; for small results such as metric dicts).

    Examples:
        >>> broadcast_from_zero({"acc": 0.5})  # one process: unchanged
        {'acc': 0.5}
    """
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def _collective_device() -> torch.device:
    # NCCL's object collectives and empty tensors must live on this rank's GPU
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def global_mean_weight(count: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """The factor that turns this rank's mean over ``count`` items into its share of the global
    mean under DDP.

    A loss averaged over a varying number of items per rank (masked tokens of padded clips,
    masked nodes of a batch of graphs) is not the global average once DDP averages the ranks'
    gradients: ranks with few items weigh as much as ranks with many. Multiplying the local
    mean by ``W * count / sum_r count_r`` makes the ranks' average exactly the mean over all
    items, as one process on the concatenated batch computes it. Without distribution: 1.

    Args:
        count: This rank's number of items (a scalar tensor; no gradient flows through it).
        dtype: Of the result (default float32); give the loss's, so the product keeps it. The
            ratio itself is computed in float64.

    Examples:
        >>> global_mean_weight(torch.tensor(7), dtype=torch.float64)  # one process
        tensor(1., dtype=torch.float64)
    """
    dtype = dtype or torch.float32
    count = count.detach().to(torch.float64)
    if not is_distributed():
        return torch.ones_like(count, dtype=dtype)
    total = count.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return (count * dist.get_world_size() / total.clamp_min(1.0)).to(dtype)

"""Multi-process (gloo, CPU) checks that gathered losses are exact.

The criterion is the one data-parallel training relies on: with the batch split
over ``W`` ranks, each rank computing the loss on its shard with ``gather=True``
and DDP averaging gradients, training must equal one process on the
concatenated batch. So for every case

* the mean of the per-rank losses equals the single-process loss, and
* each rank's input gradient equals ``W`` times the single-process gradient of
  its rows (DDP divides by ``W``).

This catches every distributed-loss bug listed in the field notes: gathers that
drop remote gradients, raw ``all_reduce`` without autograd, per-rank statistics
and wrong positive offsets.

Example::

    cases = [GatherCase("nt_xent", nt_xent, (z1, z2), {"temperature": 0.5})]
    results = check_gather_equivalence(cases, world_size=2)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor

__all__ = ["GatherCase", "GatherResult", "check_gather_equivalence", "run_on_ranks"]


@dataclass
class GatherCase:
    """One loss call to compare.

    Args:
        name: Label used in failure messages.
        fn: A module-level loss function accepting ``gather=`` (picklable by reference).
        inputs: Full-batch tensors; rank ``r`` gets rows ``[r*B, (r+1)*B)`` of each.
        kwargs: Extra keyword arguments for ``fn``.
        sharded_kwargs: Keyword tensors split by rows like ``inputs`` but not
            differentiated (e.g. a per-sample logit bias).
    """

    name: str
    fn: Callable[..., Tensor]
    inputs: Sequence[Tensor]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    sharded_kwargs: Mapping[str, Tensor] = field(default_factory=dict)


@dataclass
class GatherResult:
    """Largest absolute deviations of one case (0 when exact)."""

    name: str
    loss_error: float
    grad_error: float


def _shard(x: Tensor, rank: int, world: int) -> Tensor:
    if x.shape[0] % world:
        raise ValueError(f"batch of {x.shape[0]} rows does not split over {world} ranks.")
    per = x.shape[0] // world
    return x[rank * per : (rank + 1) * per]


def _rank_main(
    rank: int, world: int, init_file: str, out: str, fn: Callable[..., Any], args: tuple
) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.save(fn(rank, world, *args), os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run_on_ranks(fn: Callable[..., Any], args: tuple = (), world_size: int = 2) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` on ``world_size`` gloo processes; their results.

    ``fn`` must be importable by reference (a module-level function) and return tensors,
    numbers, strings or containers of them (results travel through ``torch.save`` and the
    ``weights_only`` loader). The process group is initialised before ``fn`` runs.

    Examples:
        >>> def ranks(rank, world):  # doctest: +SKIP
        ...     return rank
        >>> run_on_ranks(ranks, world_size=2)  # doctest: +SKIP
        [0, 1]
    """
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(
            _rank_main,
            args=(world_size, os.path.join(tmp, "init"), tmp, fn, tuple(args)),
            nprocs=world_size,
            join=True,
            start_method="spawn",
        )
        return [torch.load(os.path.join(tmp, f"rank{r}.pt")) for r in range(world_size)]


def _gather_cases(rank: int, world: int, cases: Sequence[GatherCase]) -> list:
    results = []
    for case in cases:
        local = [_shard(x, rank, world).clone().requires_grad_(True) for x in case.inputs]
        extra = {k: _shard(v, rank, world) for k, v in case.sharded_kwargs.items()}
        loss = case.fn(*local, gather=True, **case.kwargs, **extra)
        grads = torch.autograd.grad(loss, local)
        results.append((loss.detach(), [g.detach() for g in grads]))
    return results


def check_gather_equivalence(
    cases: Sequence[GatherCase], world_size: int = 2
) -> list[GatherResult]:
    """Run ``cases`` on ``world_size`` gloo processes and compare with one process.

    Returns one :class:`GatherResult` per case; callers assert on the errors
    with a tolerance suited to the dtype (float64 inputs give ~1e-12).
    """
    per_rank = run_on_ranks(_gather_cases, (list(cases),), world_size)
    results = []
    for i, case in enumerate(cases):
        full = [x.clone().requires_grad_(True) for x in case.inputs]
        loss = case.fn(*full, gather=False, **case.kwargs, **case.sharded_kwargs)
        grads = torch.autograd.grad(loss, full)
        mean_loss = torch.stack([per_rank[r][i][0] for r in range(world_size)]).mean()
        loss_error = float((mean_loss - loss.detach()).abs())
        grad_error = 0.0
        for j, g in enumerate(grads):
            for r in range(world_size):
                expected = world_size * _shard(g, r, world_size)
                grad_error = max(grad_error, float((per_rank[r][i][1][j] - expected).abs().max()))
        results.append(GatherResult(case.name, loss_error, grad_error))
    return results

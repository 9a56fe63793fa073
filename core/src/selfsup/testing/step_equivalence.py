"""One optimiser step of a method on W gloo processes against one process on the whole batch.

Data-parallel training is correct when splitting a batch over ``W`` ranks changes nothing: each
rank runs the method on its shard inside ``DistributedDataParallel`` (which averages gradients),
steps the optimiser and the EMA teachers, and must end with the parameters, buffers (BatchNorm
statistics, EMA-teacher weights, frequency estimates) and mean loss that one process reaches on
the concatenated batch. The losses' gathers are checked alone by
:mod:`selfsup.testing.distributed`; this checks a whole method: that its losses gather, its batch
statistics are global, its teachers move alike on every rank, and nothing rank-local leaks into
the update.

BatchNorm in training mode normalises with per-rank statistics unless converted to
``SyncBatchNorm``, which PyTorch runs on CUDA modules only; on the CPU ranks used here a method
with BatchNorm shows a ``buffer_error`` (and different gradients) by design.

A method that draws random numbers per row (masks, views) must draw, on every rank, the rows the
single process draws for the same samples; :func:`rows_of_global_draw` makes a sampling function
do that, so the test compares the computation and not two different random draws.

Examples::

    case = StepCase("two_tower", make_method=tiny_two_tower, make_batch=interactions)
    result = check_step_equivalence(case)
    assert result.param_error < 1e-5
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from selfsup.distributed import gather_rows, rank, world_size
from selfsup.testing.distributed import run_on_ranks

__all__ = [
    "StepCase",
    "StepResult",
    "check_step_equivalence",
    "rows_of_global_draw",
    "split_rows",
]


def split_rows(batch: Any, rank: int, world: int) -> Any:
    """Rank ``rank``'s contiguous share of every tensor's first dimension, recursively.

    Raises:
        ValueError: a tensor whose rows do not split evenly over ``world`` ranks.
    """
    if isinstance(batch, Tensor):
        if batch.dim() == 0 or batch.shape[0] % world:
            raise ValueError(
                f"a batch tensor of shape {tuple(batch.shape)} does not split over {world} ranks."
            )
        per = batch.shape[0] // world
        return batch[rank * per : (rank + 1) * per]
    if isinstance(batch, dict):
        return {k: split_rows(v, rank, world) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(split_rows(v, rank, world) for v in batch)
    return batch


def rows_of_global_draw(sample: Callable[..., Any], seed: int = 1234) -> Callable[..., Any]:
    """Wrap a per-row sampling function for equivalence tests.

    ``sample(first, *args, generator=..., **kwargs)`` takes as ``first`` either the number of
    rows or a per-row tensor (e.g. a padding mask). The wrapper makes the draw one process makes
    for the whole batch (``rows * W``, or the tensor gathered from every rank) from a generator
    seeded with ``seed``, and returns this rank's contiguous share of it, so rank ``r`` gets
    exactly the rows the single process uses for the same samples. The result's tensors (or the
    tensor fields of a dataclass or named tuple) are sliced on their first dimension.
    """

    @functools.wraps(sample)
    def draw(first: int | Tensor, *args: Any, **kwargs: Any) -> Any:
        world, me = world_size(), rank()
        kwargs.pop("generator", None)
        generator = torch.Generator().manual_seed(seed)
        if isinstance(first, Tensor):
            rows, whole = first.shape[0], gather_rows(first)
        else:
            rows, whole = int(first), int(first) * world
        full = sample(whole, *args, generator=generator, **kwargs)
        return _slice(full, me * rows, (me + 1) * rows)

    return draw


def _slice(value: Any, start: int, stop: int) -> Any:
    if isinstance(value, Tensor):
        return value[start:stop]
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return type(value)(**{name: _slice(getattr(value, name), start, stop) for name in fields})
    if isinstance(value, tuple):
        parts = [_slice(v, start, stop) for v in value]
        return type(value)(*parts) if hasattr(value, "_fields") else type(value)(parts)
    return value


@dataclass
class StepCase:
    """One method and batch to compare.

    Args:
        name: Label in failure messages.
        make_method: Module-level factory of the method (called after ``torch.manual_seed``
            with ``seed``, so every process builds the same weights).
        make_batch: Module-level factory of the whole batch (deterministic).
        shard: ``shard(batch, rank, world)``: a rank's share (default :func:`split_rows`).
        lr: SGD learning rate of the step (large enough that a wrong gradient shows).
        seed: Seed for building the method and for its random draws.
    """

    name: str
    make_method: Callable[[], nn.Module]
    make_batch: Callable[[], Any]
    shard: Callable[[Any, int, int], Any] = split_rows
    lr: float = 0.5
    seed: int = 0


@dataclass
class StepResult:
    """Largest absolute deviations after the step (0 when exact).

    Attributes:
        loss_error: mean of the ranks' losses vs the single-process loss (what ``SSLModule``
            logs with ``sync_dist``).
        param_error: parameters vs the single process.
        buffer_error: floating-point buffers (BatchNorm statistics, EMA teachers, estimators)
            vs the single process.
        rank_spread: largest difference of any state entry between ranks (DDP keeps replicas
            identical; anything rank-local shows here).
    """

    name: str
    loss_error: float
    param_error: float
    buffer_error: float
    rank_spread: float


def _step(method: nn.Module, model: nn.Module, batch: Any, lr: float) -> dict[str, Any]:
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=lr)
    loss = model(batch)["loss"]
    loss.backward()
    optimizer.step()
    update = getattr(method, "update_teacher", None)
    if callable(update):
        update(1, 10)
    # tensors only: extra state (schemas, settings) is not what a step changes
    state = {k: v.detach().clone() for k, v in method.state_dict().items() if isinstance(v, Tensor)}
    params = [name for name, _ in method.named_parameters()]
    return {"loss": loss.detach(), "state": state, "params": params}


def _build(case: StepCase) -> nn.Module:
    torch.manual_seed(case.seed)
    return case.make_method().train()


def _on_rank(rank: int, world: int, case: StepCase) -> dict[str, Any]:
    method = _build(case)
    batch = case.shard(case.make_batch(), rank, world)
    torch.manual_seed(case.seed + 1)
    return _step(method, DistributedDataParallel(method), batch, case.lr)


def _max_error(a: dict[str, Tensor], b: dict[str, Tensor], names: list[str]) -> float:
    error = 0.0
    for name in names:
        x, y = a[name], b[name]
        if x.is_floating_point():
            error = max(error, float((x.double() - y.double()).abs().max()))
        elif not torch.equal(x, y):
            error = float("inf")
    return error


def check_step_equivalence(case: StepCase, world_size: int = 2) -> StepResult:
    """Run ``case`` on ``world_size`` gloo processes and on one; compare after one step."""
    method = _build(case)
    torch.manual_seed(case.seed + 1)
    single = _step(method, method, case.make_batch(), case.lr)
    ranks = run_on_ranks(_on_rank, (case,), world_size)
    state = single["state"]
    params = single["params"]
    buffers = [k for k in state if k not in set(params)]
    mean_loss = torch.stack([r["loss"] for r in ranks]).double().mean()
    spread = max(_max_error(ranks[0]["state"], r["state"], list(state)) for r in ranks[1:])
    return StepResult(
        name=case.name,
        loss_error=float((mean_loss - single["loss"].double()).abs()),
        param_error=max(_max_error(r["state"], state, params) for r in ranks),
        buffer_error=max(_max_error(r["state"], state, buffers) for r in ranks),
        rank_spread=spread,
    )

"""Probes: what :class:`~selfsup.metrics.ProbeMonitor` runs on a task's frozen embeddings.

A probe is one way to score a task's embeddings with labels the data module holds: class labels
of held-out samples (:class:`ClassificationProbe`, kNN and/or linear), node labels of one graph
(the graph plugin's ``NodeProbe``), held-out interactions of a catalogue (the recsys plugin's
``RetrievalProbe``). The monitor owns the when (every N epochs, at fit end), the frozen mode
(:func:`~selfsup.metrics.frozen_eval`) and the logging; the probe owns the how.

One metric-name scheme: every value is logged as ``"{task}/{metric}"``; a probe names its
metrics so that the name says what was measured and on which split (``knn_acc``,
``linear_acc``, ``probe_test_acc``, ``val_recall@50``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from selfsup.distributed import gather_round_robin, rank, world_size
from selfsup.metrics.knn import knn_accuracy
from selfsup.metrics.linear_probe import linear_probe

__all__ = ["ClassificationProbe", "Probe", "ProbeContext", "check_features"]


@dataclass(frozen=True)
class ProbeContext:
    """What a probe sees of one task: its name, method, data module, the embedding function of
    the training module (``embed(inputs) -> (B, D)``) and the device to put inputs on."""

    task: str
    method: Any
    data: Any
    embed: Callable[[Any], Tensor]
    device: torch.device


class Probe(ABC):
    """One way to score a task's frozen embeddings; subclasses implement :meth:`__call__`.

    A probe returns ``None`` for a task it does not apply to (its data module lacks the labels
    it needs), so one monitor can carry probes of several kinds across a multi-task experiment.
    It runs inside :func:`~selfsup.metrics.frozen_eval`: no gradients, eval mode.

    Examples:
        >>> class MeanNorm(Probe):
        ...     def __call__(self, ctx):
        ...         make = getattr(ctx.data, "probe_dataloaders", None)
        ...         if make is None:
        ...             return None
        ...         x, _ = next(iter(make()[1]))
        ...         return {"mean_norm": float(ctx.embed(x).norm(dim=1).mean())}
    """

    @abstractmethod
    def __call__(self, ctx: ProbeContext) -> Mapping[str, float] | None:
        """``{metric: value}`` for the task of ``ctx``; ``None`` where the probe does not apply."""


class ClassificationProbe(Probe):
    """kNN and/or linear probe on ``data.probe_dataloaders() -> (train_loader, test_loader)``.

    Both loaders yield ``(inputs, labels)`` batches. Metrics:

    - ``"knn_acc"``: :func:`~selfsup.metrics.knn_accuracy` (cosine similarity, votes
      ``exp(s / T)``; Wu et al. 2018, DINO), the train features as the bank;
    - ``"linear_acc"``: :func:`~selfsup.metrics.linear_probe` accuracy (L2-regularised
      multinomial logistic regression on standardised features).

    Args:
        probe: ``"knn"`` (default), ``"linear"`` or ``"both"``.
        k: Neighbours of the kNN probe (default 20).
        temperature: kNN vote temperature (default 0.07).
        linear_kwargs: Forwarded to :func:`~selfsup.metrics.linear_probe`.
        chunk_size: Query rows per chunk of the kNN probe (default 1024).

    Shapes:
        ``embed(inputs)``: ``(B, D)``; labels: ``(B,)`` integers.

    Raises:
        ValueError: a bad ``probe`` or ``k``; batches that are not ``(inputs, labels)`` pairs;
            an empty loader.

    Examples:
        >>> from selfsup.testing.boring import BoringMethod
        >>> x, y = torch.randn(40, 16), torch.arange(40) % 2
        >>> class Data:
        ...     def probe_dataloaders(self):
        ...         return [(x[:30], y[:30])], [(x[30:], y[30:])]
        >>> m = BoringMethod()
        >>> ctx = ProbeContext("t", m, Data(), m.embed, torch.device("cpu"))
        >>> sorted(ClassificationProbe(probe="both", k=5)(ctx))
        ['knn_acc', 'linear_acc']
    """

    _PROBES = ("knn", "linear", "both")

    def __init__(
        self,
        probe: str = "knn",
        k: int = 20,
        temperature: float = 0.07,
        linear_kwargs: Mapping[str, Any] | None = None,
        chunk_size: int = 1024,
    ) -> None:
        if probe not in self._PROBES:
            raise ValueError(f"probe must be one of {self._PROBES}, got {probe!r}.")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}.")
        self.probe = probe
        self.k = int(k)
        self.temperature = float(temperature)
        self.linear_kwargs = dict(linear_kwargs or {})
        self.chunk_size = int(chunk_size)

    def __call__(self, ctx: ProbeContext) -> dict[str, float] | None:
        make_loaders = getattr(ctx.data, "probe_dataloaders", None)
        if not callable(make_loaders):
            return None
        train_loader, test_loader = make_loaders()
        x_train, y_train = _features(ctx, train_loader)
        x_test, y_test = _features(ctx, test_loader)
        values: dict[str, float] = {}
        if self.probe in ("knn", "both"):
            values["knn_acc"] = knn_accuracy(
                x_train,
                y_train,
                x_test,
                y_test,
                k=self.k,
                temperature=self.temperature,
                chunk_size=self.chunk_size,
            )
        if self.probe in ("linear", "both"):
            values["linear_acc"] = linear_probe(
                x_train, y_train, x_test, y_test, **self.linear_kwargs
            ).accuracy
        return values


def check_features(where: str, x: Any) -> Tensor:
    """``x`` detached as float32/float64 if it is a ``(B, D)`` tensor; else a clear error.

    Examples:
        >>> check_features("embed", torch.ones(2, 3, dtype=torch.bfloat16)).dtype
        torch.float32
    """
    if not isinstance(x, Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"{where} must return a (B, D) tensor, got {shape}; "
            "pool or flatten token/node features to one vector per sample."
        )
    x = x.detach()
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _features(ctx: ProbeContext, loader: Any) -> tuple[Tensor, Tensor]:
    """Embed every ``(inputs, labels)`` batch of ``loader``; under DDP the batches are dealt
    round-robin over the ranks and gathered back in order, so every rank gets exactly what one
    process would (and embeds ``1/W`` of them)."""
    # Lightning's nested-structure mover, imported here: `selfsup.metrics` loads torch only
    from lightning.fabric.utilities.apply_func import move_data_to_device

    world, me = world_size(), rank()
    features, labels = [], []
    total, spare = 0, None
    for index, batch in enumerate(loader):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(
                f"probe_dataloaders() of task {ctx.task!r} must yield (inputs, labels) pairs, "
                f"got {type(batch).__name__}."
            )
        total, spare = index + 1, spare if spare is not None else batch[0]
        if index % world != me:
            continue
        inputs, y = batch
        z = check_features(
            f"embed_inputs({ctx.task!r}, ...)", ctx.embed(move_data_to_device(inputs, ctx.device))
        )
        features.append(z)
        labels.append(torch.as_tensor(y).reshape(-1).to(device=z.device, dtype=torch.long))
    # Under FSDP an embedding is a collective (parameters are gathered): every rank must embed
    # as often as the busiest one, so a rank short of a batch embeds a spare one and drops it.
    for _ in range(-(-total // world) - len(features)):
        ctx.embed(move_data_to_device(spare, ctx.device))
    try:
        return gather_round_robin(features), gather_round_robin(labels)
    except ValueError:
        raise ValueError(f"a probe dataloader of task {ctx.task!r} is empty.") from None

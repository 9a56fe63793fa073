"""GraphMAE's linear probe for transductive node classification (``graphmae/evaluation.py``)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NodeProbeResult", "mean_std", "node_linear_probe"]


@dataclass(frozen=True)
class NodeProbeResult:
    """The outcome of :func:`node_linear_probe` (accuracies in ``[0, 1]``).

    Attributes:
        test_acc: Test accuracy of the probe from the epoch with the best validation accuracy
            (GraphMAE's ``early-stopping_acc``; ties go to the later epoch); None when the probe
            was run without a test mask.
        val_acc: That best validation accuracy.
        best_epoch: Its epoch (0-based).
        final_test_acc: Test accuracy after the last epoch (GraphMAE's ``final_acc``); None
            without a test mask.
        final_val_acc: Validation accuracy after the last epoch (lets a caller choose between
            the best-validation and the last-epoch probe on validation alone).
    """

    test_acc: float | None
    val_acc: float
    best_epoch: int
    final_test_acc: float | None
    final_val_acc: float = math.nan


def _mask(name: str, mask: Tensor, n: int) -> Tensor:
    if not isinstance(mask, Tensor) or mask.shape != (n,):
        got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"{name} must be a ({n},) boolean mask, got {got}.")
    mask = mask.bool()
    if not bool(mask.any()):
        raise ValueError(f"{name} selects no node.")
    return mask


def node_linear_probe(
    embeddings: Tensor,
    labels: Tensor,
    train_mask: Tensor,
    val_mask: Tensor,
    test_mask: Tensor | None,
    *,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    epochs: int = 300,
    seed: int | None = None,
) -> NodeProbeResult:
    """Fit ``nn.Linear(D, C)`` on frozen node embeddings; select the epoch on validation.

    GraphMAE's protocol (``linear_probing_for_transductive_node_classiifcation``): Adam
    (``lr``, ``weight_decay`` on weight and bias), full-batch cross-entropy on the train nodes for
    ``epochs`` epochs; after every epoch the probe is evaluated, and the one with the highest
    validation accuracy (``>=``: ties go to the later epoch) gives the test accuracy. No feature
    standardisation. Cora: ``lr 0.01``, ``weight_decay 1e-4``, 300 epochs (GraphMAE2 Cora:
    ``lr 0.025``).

    Args:
        embeddings: Frozen node embeddings (detached inside).
        labels: Integer classes.
        train_mask, val_mask, test_mask: Boolean node masks. ``test_mask=None`` never reads a
            test label (for choosing settings on validation alone): the result's test fields
            are then None.
        lr: Adam learning rate (default 0.01).
        weight_decay: Adam weight decay (default 1e-4).
        epochs: Training epochs >= 1 (default 300).
        seed: Seeds the probe's initialisation (``torch.random.fork_rng``); None uses the global
            RNG, as GraphMAE.

    Returns:
        A :class:`NodeProbeResult`.

    Shapes:
        embeddings: ``(N, D)``; labels and masks: ``(N,)``.

    Raises:
        ValueError: On mis-shaped inputs, empty masks, non-finite embeddings or bad settings.
    """
    if not isinstance(embeddings, Tensor) or embeddings.dim() != 2:
        got = tuple(embeddings.shape) if isinstance(embeddings, Tensor) else None
        raise ValueError(f"embeddings must be an (N, D) tensor, got {got}.")
    n = embeddings.shape[0]
    if not bool(torch.isfinite(embeddings).all()):
        raise ValueError("embeddings contain NaN/inf.")
    if not isinstance(labels, Tensor) or labels.shape != (n,):
        raise ValueError(f"labels must be an ({n},) integer tensor.")
    masks = [_mask(k, m, n) for k, m in (("train_mask", train_mask), ("val_mask", val_mask))]
    if test_mask is not None:
        masks.append(_mask("test_mask", test_mask, n))
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}.")
    if not (lr > 0 and math.isfinite(lr)) or not (weight_decay >= 0):
        raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {lr} and {weight_decay}.")

    x = embeddings.detach().float()
    y = labels.to(device=x.device, dtype=torch.long)
    train, val = (m.to(x.device) for m in masks[:2])
    test = masks[2].to(x.device) if test_mask is not None else None
    num_classes = int(y.max()) + 1
    with torch.inference_mode(False), torch.enable_grad():
        x = x.clone()
        if seed is None:
            probe = nn.Linear(x.shape[1], num_classes).to(x.device)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                probe = nn.Linear(x.shape[1], num_classes).to(x.device)
        optimizer = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
        best_val, best_epoch = -1.0, 0
        best_test: float | None = None
        test_acc: float | None = None
        val_acc = 0.0
        for epoch in range(epochs):
            optimizer.zero_grad()
            loss = F.cross_entropy(probe(x[train]), y[train])
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                pred = probe(x).argmax(1)
                correct = pred == y
                val_acc = float(correct[val].float().mean())
                if test is not None:
                    test_acc = float(correct[test].float().mean())
            if val_acc >= best_val:
                best_val, best_test, best_epoch = val_acc, test_acc, epoch
    return NodeProbeResult(
        test_acc=best_test,
        val_acc=best_val,
        best_epoch=best_epoch,
        final_test_acc=test_acc,
        final_val_acc=val_acc,
    )


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (population, ``numpy.std``'s default as GraphMAE reports;
    0 for one value)."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("mean_std needs at least one value.")
    return statistics.fmean(vals), statistics.pstdev(vals) if len(vals) > 1 else 0.0

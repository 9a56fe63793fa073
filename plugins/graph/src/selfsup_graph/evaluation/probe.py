"""``NodeProbe``: GraphMAE's node-classification linear probe as a :class:`selfsup.metrics.Probe`.

Run by core's :class:`~selfsup.metrics.ProbeMonitor` (``probes=[NodeProbe(...)]``) on every task
whose data module has ``probe_graph()`` (a graph with ``y`` and ``train_mask``/``val_mask``/
``test_mask``, e.g. :class:`~selfsup_graph.data.PlanetoidDataModule`).
"""

from __future__ import annotations

from typing import Any

from selfsup.metrics.probes import Probe, ProbeContext
from selfsup_graph.evaluation.node_probe import NodeProbeResult, node_linear_probe

__all__ = ["NodeProbe"]


class NodeProbe(Probe):
    """Embed the task's full graph with ``method.embed`` and fit GraphMAE's probe on it.

    The probe trains on the train mask, picks its epoch on the validation mask and reports test
    (:func:`~selfsup_graph.evaluation.node_linear_probe`). Metrics (logged as
    ``"{task}/{metric}"``): ``probe_test_acc`` (test accuracy at the best validation epoch),
    ``probe_val_acc`` (that validation accuracy) and ``probe_final_test_acc`` (test accuracy
    after the last probe epoch). The latest full results are in :attr:`results`.

    Args:
        lr: Probe learning rate (default 0.01, GraphMAE Cora).
        weight_decay: Probe weight decay (default 1e-4).
        epochs: Probe epochs (default 300).
        seed: Seed of the probe initialisation (default None: the global RNG, as GraphMAE).

    Examples:
        >>> from selfsup.metrics import ProbeMonitor
        >>> monitor = ProbeMonitor(probes=[NodeProbe(epochs=300)], every_n_epochs=0)
    """

    def __init__(
        self,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        epochs: int = 300,
        seed: int | None = None,
    ) -> None:
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.epochs = int(epochs)
        self.seed = seed
        #: Latest :class:`NodeProbeResult` per task.
        self.results: dict[str, NodeProbeResult] = {}

    def __call__(self, ctx: ProbeContext) -> dict[str, float] | None:
        make_graph = getattr(ctx.data, "probe_graph", None)
        if not callable(make_graph) or ctx.method is None:
            return None
        graph: Any = make_graph().to(ctx.device)
        z = ctx.method.embed(graph).detach()
        result = node_linear_probe(
            z,
            graph.y,
            graph.train_mask,
            graph.val_mask,
            graph.test_mask,
            lr=self.lr,
            weight_decay=self.weight_decay,
            epochs=self.epochs,
            seed=self.seed,
        )
        self.results[ctx.task] = result
        return {
            "probe_test_acc": result.test_acc,
            "probe_val_acc": result.val_acc,
            "probe_final_test_acc": result.final_test_acc,
        }

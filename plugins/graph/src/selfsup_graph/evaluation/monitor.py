"""Frozen node embeddings, and the deprecated ``NodeProbeMonitor`` (now core's
:class:`~selfsup.metrics.ProbeMonitor` with a :class:`~selfsup_graph.evaluation.NodeProbe`)."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from selfsup.metrics import frozen_eval
from selfsup.metrics.callbacks import ProbeMonitor
from selfsup_graph.evaluation.node_probe import NodeProbeResult
from selfsup_graph.evaluation.probe import NodeProbe

__all__ = ["NodeProbeMonitor", "embed_nodes"]


def embed_nodes(method: Any, graph: Any) -> torch.Tensor:
    """Frozen node embeddings of a full graph: ``method.embed`` in eval mode, no gradients.

    Every submodule's train/eval flag is restored afterwards.
    """
    with frozen_eval(method):
        return method.embed(graph).detach()


class NodeProbeMonitor(ProbeMonitor):
    """Deprecated: use ``ProbeMonitor(probes=[NodeProbe(lr=..., weight_decay=..., epochs=...)])``.

    Logs the same ``"{task}/probe_test_acc"``, ``"{task}/probe_val_acc"`` and
    ``"{task}/probe_final_test_acc"`` as before; :attr:`node_results` holds the latest
    :class:`~selfsup_graph.evaluation.NodeProbeResult` per task.

    Args:
        every_n_epochs: Probe period in epochs; 0 (default) probes only at the end of fit.
        lr: Probe learning rate (default 0.01, GraphMAE Cora).
        weight_decay: Probe weight decay (default 1e-4).
        epochs: Probe epochs (default 300).
        seed: Seed of the probe initialisation (default None: the global RNG, as GraphMAE).

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     monitor = NodeProbeMonitor(every_n_epochs=100)
    """

    def __init__(
        self,
        every_n_epochs: int = 0,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        epochs: int = 300,
        seed: int | None = None,
    ) -> None:
        warnings.warn(
            "NodeProbeMonitor is deprecated: use selfsup.metrics.ProbeMonitor(probes=["
            "selfsup_graph.evaluation.NodeProbe(lr=..., weight_decay=..., epochs=...)]); the "
            "metric names are unchanged.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.node_probe = NodeProbe(lr, weight_decay, epochs, seed)
        super().__init__(probes=[self.node_probe], every_n_epochs=every_n_epochs)

    @property
    def node_results(self) -> dict[str, NodeProbeResult]:
        """The latest full probe result per task."""
        return self.node_probe.results

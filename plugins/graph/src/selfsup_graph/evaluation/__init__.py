"""Evaluation of frozen graph embeddings: GraphMAE's node linear probe, as a function and as a
:class:`selfsup.metrics.Probe` that core's ``ProbeMonitor`` runs during training."""

from typing import TYPE_CHECKING, Any

from selfsup_graph.evaluation.node_probe import NodeProbeResult, mean_std, node_linear_probe
from selfsup_graph.evaluation.probe import NodeProbe

if TYPE_CHECKING:
    from selfsup_graph.evaluation.monitor import NodeProbeMonitor, embed_nodes

__all__ = [
    "NodeProbe",
    "NodeProbeMonitor",
    "NodeProbeResult",
    "embed_nodes",
    "mean_std",
    "node_linear_probe",
]


def __getattr__(name: str) -> Any:
    # the (deprecated) monitor imports Lightning: loaded on first use
    if name in ("NodeProbeMonitor", "embed_nodes"):
        from selfsup_graph.evaluation import monitor

        return getattr(monitor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

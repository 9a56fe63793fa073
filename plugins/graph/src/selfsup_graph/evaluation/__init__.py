"""Evaluation of frozen graph embeddings: GraphMAE's node linear probe and its callback."""

from selfsup_graph.evaluation.monitor import NodeProbeMonitor, embed_nodes
from selfsup_graph.evaluation.node_probe import NodeProbeResult, mean_std, node_linear_probe

__all__ = ["NodeProbeMonitor", "NodeProbeResult", "embed_nodes", "mean_std", "node_linear_probe"]

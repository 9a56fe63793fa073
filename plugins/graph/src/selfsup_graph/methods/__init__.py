"""Self-supervised methods for graphs."""

from selfsup_graph.methods.grace import GRACE
from selfsup_graph.methods.graphmae import GraphInput, GraphMAE, GraphMAE2, GraphMAEGraphLevel

__all__ = ["GRACE", "GraphInput", "GraphMAE", "GraphMAE2", "GraphMAEGraphLevel"]

"""Graph encoders ``(x, edge_index) -> (N, out_channels)`` node embeddings."""

from selfsup_graph.encoders.gcn import GCNEncoder

__all__ = ["GCNEncoder"]

"""Graph encoders ``(x, edge_index) -> (N, out_channels)`` node embeddings."""

from selfsup_graph.encoders.build import DECODERS, ENCODERS, build_decoder, build_encoder
from selfsup_graph.encoders.edges import edges_for, reads_csr, shared_csr
from selfsup_graph.encoders.gat import GATEncoder, GATLayer
from selfsup_graph.encoders.gcn import GCNEncoder
from selfsup_graph.encoders.gin import GINEncoder

__all__ = [
    "DECODERS",
    "ENCODERS",
    "GATEncoder",
    "GATLayer",
    "GCNEncoder",
    "GINEncoder",
    "build_decoder",
    "build_encoder",
    "edges_for",
    "reads_csr",
    "shared_csr",
]

"""Graph views: stochastic corruptions (global torch RNG) and diffusion."""

from selfsup_graph.augment.diffusion import MAX_DENSE_NODES, ppr_diffusion
from selfsup_graph.augment.views import (
    drop_edges,
    drop_feature_columns,
    drop_nodes,
    k_hop_view,
    mask_features,
    random_walk_subgraph,
)

__all__ = [
    "MAX_DENSE_NODES",
    "drop_edges",
    "drop_feature_columns",
    "drop_nodes",
    "k_hop_view",
    "mask_features",
    "ppr_diffusion",
    "random_walk_subgraph",
]

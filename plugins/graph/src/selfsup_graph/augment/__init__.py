"""Stochastic graph views (global torch RNG)."""

from selfsup_graph.augment.views import (
    drop_edges,
    drop_feature_columns,
    drop_nodes,
    k_hop_view,
    mask_features,
    random_walk_subgraph,
)

__all__ = [
    "drop_edges",
    "drop_feature_columns",
    "drop_nodes",
    "k_hop_view",
    "mask_features",
    "random_walk_subgraph",
]

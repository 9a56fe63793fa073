"""Stochastic graph views (global torch RNG)."""

from selfsup_graph.augment.views import drop_edges, drop_feature_columns

__all__ = ["drop_edges", "drop_feature_columns"]

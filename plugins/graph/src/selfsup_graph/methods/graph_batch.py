"""Deprecated: moved to :mod:`selfsup_graph.batch` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("node_features_and_edges", "nonfinite_features")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_graph.batch", _MOVED)

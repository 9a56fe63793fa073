"""Self-supervised methods for graphs."""

from selfsup_graph.methods.grace import GRACE

__all__ = ["GRACE"]

"""Encoders of feature vectors ``(B, F) -> (B, out_dim)``."""

from selfsup_tabular.encoders.mlp import TabularMLP

__all__ = ["TabularMLP"]

"""Towers mapping ids to embeddings ``(B,) -> (B, out_dim)``."""

from selfsup_recsys.encoders.tower import IdTower

__all__ = ["IdTower"]

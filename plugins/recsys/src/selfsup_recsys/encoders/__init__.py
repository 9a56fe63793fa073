"""Towers mapping features (or ids) to embeddings, and their embedding tables."""

from selfsup_recsys.encoders.embedding_tables import EmbeddingTables, LocalEmbeddingTables
from selfsup_recsys.encoders.tower import FeatureTower, IdTower

__all__ = ["EmbeddingTables", "FeatureTower", "IdTower", "LocalEmbeddingTables"]

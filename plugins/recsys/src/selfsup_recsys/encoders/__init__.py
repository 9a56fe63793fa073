"""Towers mapping features (or ids) to embeddings, their embedding tables and content encoders."""

from selfsup_recsys.encoders.content import ContentEncoder, build_content_encoder
from selfsup_recsys.encoders.embedding_tables import EmbeddingTables, LocalEmbeddingTables
from selfsup_recsys.encoders.tower import FeatureTower, IdTower

__all__ = [
    "ContentEncoder",
    "EmbeddingTables",
    "FeatureTower",
    "IdTower",
    "LocalEmbeddingTables",
    "build_content_encoder",
]

"""Towers mapping features (or ids) to embeddings, their embedding tables and content encoders."""

from selfsup_recsys.encoders.content import ContentEncoder
from selfsup_recsys.encoders.content_config import build_content_encoder
from selfsup_recsys.encoders.embedding_tables import EmbeddingTables, LocalEmbeddingTables
from selfsup_recsys.encoders.tower import FeatureTower, IdTower
from selfsup_recsys.encoders.two_tower_encoder import TwoTowerEncoder

__all__ = [
    "ContentEncoder",
    "EmbeddingTables",
    "FeatureTower",
    "IdTower",
    "LocalEmbeddingTables",
    "TwoTowerEncoder",
    "build_content_encoder",
]

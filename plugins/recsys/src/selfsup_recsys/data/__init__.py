"""Interaction data: MovieLens-100K and generic tables, leave-last-out splits, feature tables."""

from selfsup_recsys.data.datamodule import InteractionDataModule
from selfsup_recsys.data.feature_table import FeatureTable
from selfsup_recsys.data.interactions import (
    Splits,
    clean_interactions,
    leave_last_out,
    read_table,
    reduce_training,
)
from selfsup_recsys.data.item_content import align_content, read_item_content
from selfsup_recsys.data.movielens import load_movielens_100k
from selfsup_recsys.data.retrieval_data import RetrievalData, build_retrieval_data
from selfsup_recsys.data.synthetic import synthetic_interactions

__all__ = [
    "align_content",
    "FeatureTable",
    "InteractionDataModule",
    "RetrievalData",
    "Splits",
    "build_retrieval_data",
    "clean_interactions",
    "leave_last_out",
    "load_movielens_100k",
    "read_item_content",
    "read_table",
    "reduce_training",
    "synthetic_interactions",
]

"""Encoders: MLPs, numerical embeddings, the feature tokenizer and the token Transformer."""

from selfsup_tabular.encoders.mlp import TabularInput, TabularMLP
from selfsup_tabular.encoders.numerical import NUMERICAL_EMBEDDINGS, PeriodicEmbedding
from selfsup_tabular.encoders.tokenizer import (
    FeatureTokenizer,
    check_tabular_batch,
    encode_rows,
    is_frame,
)
from selfsup_tabular.encoders.transformer import TabularBackbone, TokenTransformer

__all__ = [
    "NUMERICAL_EMBEDDINGS",
    "FeatureTokenizer",
    "PeriodicEmbedding",
    "TabularBackbone",
    "TabularInput",
    "TabularMLP",
    "TokenTransformer",
    "check_tabular_batch",
    "encode_rows",
    "is_frame",
]

"""Encoders: MLPs on feature vectors, the feature tokenizer and the token Transformer."""

from selfsup_tabular.encoders.mlp import TabularInput, TabularMLP
from selfsup_tabular.encoders.tokenizer import (
    FeatureTokenizer,
    check_tabular_batch,
    encode_rows,
    is_frame,
)
from selfsup_tabular.encoders.transformer import TabularBackbone, TokenTransformer

__all__ = [
    "FeatureTokenizer",
    "TabularBackbone",
    "TabularInput",
    "TabularMLP",
    "TokenTransformer",
    "check_tabular_batch",
    "encode_rows",
    "is_frame",
]

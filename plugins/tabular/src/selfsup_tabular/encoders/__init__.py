"""Encoders: MLPs, numerical embeddings, the feature tokenizer and the token Transformer."""

from typing import Any

from selfsup.deprecation import moved_attribute
from selfsup_tabular.encoders.mlp import TabularInput, TabularMLP
from selfsup_tabular.encoders.numerical import NUMERICAL_EMBEDDINGS, PeriodicEmbedding
from selfsup_tabular.encoders.tokenizer import FeatureTokenizer
from selfsup_tabular.encoders.transformer import TabularBackbone, TokenTransformer

__all__ = [
    "NUMERICAL_EMBEDDINGS",
    "FeatureTokenizer",
    "PeriodicEmbedding",
    "TabularBackbone",
    "TabularInput",
    "TabularMLP",
    "TokenTransformer",
]

# moved to selfsup_tabular.batch (the batch contract); forwarded with a warning for one release
_MOVED = dict.fromkeys(["check_tabular_batch", "encode_rows", "is_frame"], "selfsup_tabular.batch")


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)

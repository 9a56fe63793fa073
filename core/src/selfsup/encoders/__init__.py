"""Modality-agnostic building blocks shared by every plugin (the shared transformer trunk)."""

from selfsup.encoders.pooling import masked_mean
from selfsup.encoders.tokenizers import VectorTokenizer
from selfsup.encoders.transformer import TransformerBlock, TransformerTrunk

__all__ = ["TransformerBlock", "TransformerTrunk", "VectorTokenizer", "masked_mean"]

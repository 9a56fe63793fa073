"""Modality-agnostic building blocks shared by every plugin (the shared transformer trunk)."""

from selfsup.encoders.tokenizers import VectorTokenizer
from selfsup.encoders.transformer import TransformerBlock, TransformerTrunk, masked_mean

__all__ = ["TransformerBlock", "TransformerTrunk", "VectorTokenizer", "masked_mean"]

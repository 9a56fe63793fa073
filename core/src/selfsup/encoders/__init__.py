"""Modality-agnostic building blocks shared by every plugin (the shared transformer trunk)."""

from selfsup.encoders.transformer import TransformerBlock, TransformerTrunk, masked_mean

__all__ = ["TransformerBlock", "TransformerTrunk", "masked_mean"]

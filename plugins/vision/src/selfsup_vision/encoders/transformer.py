"""Deprecated: the MAE decoder and the I-JEPA predictor run core's
:class:`selfsup.encoders.TransformerTrunk`, which also loads the old ``TokenTransformer``
checkpoints."""

from __future__ import annotations

from selfsup.deprecation import replaced_by
from selfsup.encoders.transformer import TransformerTrunk

__all__ = ["TokenTransformer"]

TokenTransformer = replaced_by(
    "selfsup_vision.encoders.TokenTransformer",
    "selfsup.encoders.TransformerTrunk(dim, depth=layers, num_heads=heads)",
    lambda dim, layers, heads: TransformerTrunk(dim, depth=layers, num_heads=heads),
)

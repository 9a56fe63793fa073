"""The T-JEPA backbone: feature tokenizer + core transformer trunk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from selfsup.deprecation import replaced_by
from selfsup.encoders.transformer import TransformerTrunk
from selfsup_tabular.encoders.tokenizer import FeatureTokenizer

__all__ = ["TabularBackbone", "TokenTransformer"]


#: Deprecated: T-JEPA's encoder and predictor run core's TransformerTrunk.
TokenTransformer = replaced_by(
    "selfsup_tabular.encoders.TokenTransformer",
    "selfsup.encoders.TransformerTrunk(dim, depth=, num_heads=, dropout=, mlp_dim=)",
    lambda dim, num_layers=2, num_heads=4, ffn_dim=None, dropout=0.0: TransformerTrunk(
        dim,
        depth=num_layers,
        num_heads=num_heads,
        dropout=dropout,
        mlp_dim=ffn_dim or 2 * dim,
        init="torch",
    ),
)


class TabularBackbone(nn.Module):
    """:class:`FeatureTokenizer` + :class:`~selfsup.encoders.TransformerTrunk`: the T-JEPA
    context/target encoder.

    ``forward(batch, keep)`` encodes the [REG] tokens plus the features whose indices are in
    ``keep`` ``(B, K)`` (all features when ``keep`` is None). [REG] tokens are always included and
    come first. ``numerical_embedding``, ``frequencies`` and ``frequency_scale`` go to the
    :class:`FeatureTokenizer` (``"linear"`` by default; ``"periodic"`` for PLR tokens).

    Shapes:
        batch -> ``(B, R + K, d)``.
    """

    def __init__(
        self,
        num_numerical: int,
        cardinalities: Sequence[int],
        d_token: int = 64,
        num_registers: int = 1,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.0,
        numerical_embedding: str = "linear",
        frequencies: int = 16,
        frequency_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.tokenizer = FeatureTokenizer(
            num_numerical,
            cardinalities,
            d_token,
            num_registers,
            numerical_embedding=numerical_embedding,
            frequencies=frequencies,
            frequency_scale=frequency_scale,
        )
        self.transformer = TransformerTrunk(
            d_token,
            depth=num_layers,
            num_heads=num_heads,
            dropout=dropout,
            mlp_dim=ffn_dim or 2 * d_token,
            init="torch",  # what the T-JEPA settings were chosen with (plugin README)
        )

    def forward(self, batch: Mapping[str, Tensor], keep: Tensor | None = None) -> Tensor:
        feats = self.tokenizer.feature_tokens(batch)
        if keep is not None:
            index = keep.unsqueeze(-1).expand(-1, -1, feats.shape[-1])
            feats = feats.gather(1, index)
        reg = self.tokenizer.registers.expand(feats.shape[0], -1, -1)
        return self.transformer(torch.cat([reg, feats], dim=1))

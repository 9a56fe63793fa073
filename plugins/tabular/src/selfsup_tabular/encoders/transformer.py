"""A pre-norm Transformer over feature tokens, and the tokenizer + Transformer backbone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from selfsup_tabular.encoders.tokenizer import FeatureTokenizer

__all__ = ["TabularBackbone", "TokenTransformer"]


class TokenTransformer(nn.Module):
    """``num_layers`` pre-norm Transformer blocks (GELU) followed by a LayerNorm.

    Args:
        dim: Token width.
        num_layers: Blocks (default 2).
        num_heads: Attention heads (default 4).
        ffn_dim: Feed-forward width (default ``2 * dim``).
        dropout: Dropout in attention and feed-forward (default 0).

    Shapes:
        tokens ``(B, L, dim)`` -> ``(B, L, dim)``.
    """

    def __init__(
        self,
        dim: int,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}.")
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim,
                num_heads,
                ffn_dim or 2 * dim,
                dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor) -> Tensor:
        for layer in self.layers:
            tokens = layer(tokens)
        return self.norm(tokens)


class TabularBackbone(nn.Module):
    """:class:`FeatureTokenizer` + :class:`TokenTransformer`: the T-JEPA context/target encoder.

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
        self.transformer = TokenTransformer(d_token, num_layers, num_heads, ffn_dim, dropout)

    def forward(self, batch: Mapping[str, Tensor], keep: Tensor | None = None) -> Tensor:
        feats = self.tokenizer.feature_tokens(batch)
        if keep is not None:
            index = keep.unsqueeze(-1).expand(-1, -1, feats.shape[-1])
            feats = feats.gather(1, index)
        reg = self.tokenizer.registers.expand(feats.shape[0], -1, -1)
        return self.transformer(torch.cat([reg, feats], dim=1))

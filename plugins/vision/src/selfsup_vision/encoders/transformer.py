"""A small pre-norm Transformer over token sequences (MAE decoder, I-JEPA predictor)."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["TokenTransformer"]


class TokenTransformer(nn.Module):
    """``layers`` pre-norm Transformer blocks (GELU MLP of ``4 dim``) and a final LayerNorm.

    ``torch.nn.TransformerEncoder`` without its nested-tensor fast path, so padded positions
    give ordinary outputs in training and evaluation alike.

    Args:
        dim: Token width.
        layers: Blocks (>= 1).
        heads: Attention heads (must divide ``dim``).

    Shapes:
        x: ``(B, L, dim)``, key_padding_mask ``(B, L)`` bool (True = padding) -> ``(B, L, dim)``.

    Raises:
        ValueError: ``layers < 1`` or ``heads`` does not divide ``dim``.
    """

    def __init__(self, dim: int, layers: int, heads: int) -> None:
        super().__init__()
        if layers < 1 or dim % heads:
            raise ValueError(
                f"need layers >= 1 and heads dividing dim, got layers={layers}, dim={dim}, "
                f"heads={heads}."
            )
        block = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        return self.norm(self.blocks(x, src_key_padding_mask=key_padding_mask))

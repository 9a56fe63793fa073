"""The starting encoder: an MLP from feature vectors to embeddings."""

from __future__ import annotations

from torch import nn

from selfsup.export import exportable
from selfsup_template.plugin import NAME

__all__ = ["TemplateEncoder"]


# Registered as the component "encoder" in plugin.py: `selfsup export` writes it to a folder and
# selfsup.export.load_pretrained rebuilds it from its recorded constructor arguments.
@exportable(f"{NAME}:encoder")
class TemplateEncoder(nn.Sequential):
    """``Linear -> ReLU -> Linear``: ``(B, in_dim) -> (B, out_dim)``.

    Args:
        in_dim: Input features.
        hidden_dim: Hidden width.
        out_dim: Embedding size.

    Examples:
        >>> import torch
        >>> TemplateEncoder(5, 8, 4)(torch.zeros(2, 5)).shape
        torch.Size([2, 4])
    """

    def __init__(self, in_dim: int = 16, hidden_dim: int = 64, out_dim: int = 32) -> None:
        super().__init__(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
        )

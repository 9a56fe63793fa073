"""A stack of GCN layers (Kipf and Welling, arXiv 1609.02907), as in GRACE."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn
from torch_geometric.nn import GCNConv

__all__ = ["GCNEncoder"]


class GCNEncoder(nn.Module):
    """``num_layers`` ``GCNConv`` layers, each followed by the activation (GRACE's encoder).

    Layer widths: ``in -> hidden -> ... -> hidden -> out``. With the GRACE defaults
    (two layers, ``hidden = 2 * out``) this is the encoder of the paper's code.

    Args:
        in_channels: Node feature size ``F``.
        hidden_channels: Width of the inner layers (default 256).
        out_channels: Embedding size (default 128).
        num_layers: Number of GCN layers, at least 1 (default 2).
        activation: ``"relu"`` or ``"prelu"`` (default ``"relu"``).

    Shapes:
        x: ``(N, F)``, edge_index: ``(2, E)`` -> ``(N, out_channels)``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 256,
        out_channels: int = 128,
        num_layers: int = 2,
        activation: Literal["relu", "prelu"] = "relu",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        if activation not in ("relu", "prelu"):
            raise ValueError(f"activation must be 'relu' or 'prelu', got {activation!r}.")
        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(
            GCNConv(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.acts = nn.ModuleList(
            nn.PReLU(b) if activation == "prelu" else nn.ReLU() for b in sizes[1:]
        )
        self.in_channels = in_channels
        self.out_dim = out_channels

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for conv, act in zip(self.convs, self.acts, strict=True):
            x = act(conv(x, edge_index))
        return x

"""Build GraphMAE encoders and decoders by name (``gat``, ``gcn``, ``gin``, ``mlp``, ``linear``)."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup_graph.encoders.gat import GATEncoder
from selfsup_graph.encoders.gcn import GCNEncoder
from selfsup_graph.encoders.gin import GINEncoder

__all__ = ["DECODERS", "ENCODERS", "NodeWise", "build_decoder", "build_encoder"]

ENCODERS: tuple[str, ...] = ("gat", "gcn", "gin")
DECODERS: tuple[str, ...] = ("gat", "gcn", "gin", "mlp", "linear")


class NodeWise(nn.Module):
    """Apply a module to every node independently; ``edge_index`` is ignored.

    Shapes:
        x: ``(N, *)``, edge_index: ``(2, E)`` -> ``module(x)``.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        return self.module(x)


def build_encoder(
    kind: str,
    in_channels: int,
    hidden_channels: int,
    num_layers: int,
    *,
    heads: int = 4,
    in_drop: float = 0.2,
    attn_drop: float = 0.1,
    negative_slope: float = 0.2,
    residual: bool = False,
    norm: str | None = None,
    activation: str = "prelu",
) -> nn.Module:
    """GraphMAE's ``setup_module(..., enc_dec="encoding")``: output width ``hidden_channels``.

    ``gat`` uses ``heads`` concatenated heads of width ``hidden_channels // heads`` in every
    layer (the last one included); ``gcn``/``gin`` are single-"head" stacks of width
    ``hidden_channels``. Every layer, the last included, has residual (optional), norm and
    activation.

    Raises:
        ValueError: On an unknown ``kind`` or inconsistent widths.
    """
    if kind == "gat":
        return GATEncoder(
            in_channels,
            hidden_channels,
            hidden_channels,
            num_layers=num_layers,
            heads=heads,
            out_heads=heads,
            in_drop=in_drop,
            attn_drop=attn_drop,
            negative_slope=negative_slope,
            residual=residual,
            norm=norm,
            activation=activation,
            encoding=True,
        )
    if kind == "gcn":
        return GCNEncoder(
            in_channels,
            hidden_channels,
            hidden_channels,
            num_layers=num_layers,
            activation=activation,
            dropout=in_drop,
            norm=norm,
            residual=residual,
            last_activation=True,
        )
    if kind == "gin":
        return GINEncoder(
            in_channels,
            hidden_channels,
            hidden_channels,
            num_layers=num_layers,
            in_drop=in_drop,
            activation=activation,
            norm=norm,
            residual=residual,
            encoding=True,
        )
    raise ValueError(f"encoder must be one of {ENCODERS}, got {kind!r}.")


def build_decoder(
    kind: str,
    hidden_channels: int,
    out_channels: int,
    *,
    heads: int = 4,
    out_heads: int = 1,
    in_drop: float = 0.2,
    attn_drop: float = 0.1,
    negative_slope: float = 0.2,
    residual: bool = False,
    norm: str | None = None,
    activation: str = "prelu",
) -> nn.Module:
    """GraphMAE's one-layer decoder ``hidden_channels -> out_channels`` (``enc_dec="decoding"``).

    ``gat``: one GAT layer with ``out_heads`` heads of width ``out_channels`` (averaged when
    ``out_heads > 1``; GraphMAE uses 1), feature and attention dropout, and no activation, norm
    or residual. ``gcn``/``gin``: one layer without activation/norm/residual. ``mlp``:
    ``Linear-PReLU-Dropout(0.2)-Linear``; ``linear``: one ``Linear``.

    Raises:
        ValueError: On an unknown ``kind``.
    """
    if kind == "gat":
        return GATEncoder(
            hidden_channels,
            hidden_channels,
            out_channels,
            num_layers=1,
            heads=heads,
            out_heads=out_heads,
            concat_out=out_heads == 1,
            in_drop=in_drop,
            attn_drop=attn_drop,
            negative_slope=negative_slope,
            residual=residual,
            norm=norm,
            activation=activation,
            encoding=False,
        )
    if kind == "gcn":
        return GCNEncoder(
            hidden_channels,
            hidden_channels,
            out_channels,
            num_layers=1,
            activation=activation,
            dropout=in_drop,
            norm=norm,
            residual=residual,
            last_activation=False,
        )
    if kind == "gin":
        return GINEncoder(
            hidden_channels,
            hidden_channels,
            out_channels,
            num_layers=1,
            in_drop=in_drop,
            activation=activation,
            norm=norm,
            residual=residual,
            encoding=False,
        )
    if kind == "mlp":
        return NodeWise(
            nn.Sequential(
                nn.Linear(hidden_channels, hidden_channels),
                nn.PReLU(),
                nn.Dropout(0.2),
                nn.Linear(hidden_channels, out_channels),
            )
        )
    if kind == "linear":
        return NodeWise(nn.Linear(hidden_channels, out_channels))
    raise ValueError(f"decoder must be one of {DECODERS}, got {kind!r}.")

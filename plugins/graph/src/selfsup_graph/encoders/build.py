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


def _gnn(
    kind: str,
    in_channels: int,
    hidden_channels: int,
    out_channels: int,
    num_layers: int,
    *,
    encoding: bool,
    heads: int,
    out_heads: int,
    concat_out: bool,
    in_drop: float,
    attn_drop: float,
    negative_slope: float,
    residual: bool,
    norm: str | None,
    activation: str,
) -> nn.Module | None:
    """The ``gat``/``gcn``/``gin`` stack (None for another ``kind``); ``encoding=False`` leaves
    residual, norm and activation out of the last layer (GraphMAE's decoder)."""
    if kind == "gat":
        return GATEncoder(
            in_channels,
            hidden_channels,
            out_channels,
            num_layers=num_layers,
            heads=heads,
            out_heads=out_heads,
            concat_out=concat_out,
            in_drop=in_drop,
            attn_drop=attn_drop,
            negative_slope=negative_slope,
            residual=residual,
            norm=norm,
            activation=activation,
            encoding=encoding,
        )
    if kind == "gcn":
        return GCNEncoder(
            in_channels,
            hidden_channels,
            out_channels,
            num_layers=num_layers,
            activation=activation,
            dropout=in_drop,
            norm=norm,
            residual=residual,
            last_activation=encoding,
        )
    if kind == "gin":
        return GINEncoder(
            in_channels,
            hidden_channels,
            out_channels,
            num_layers=num_layers,
            in_drop=in_drop,
            activation=activation,
            norm=norm,
            residual=residual,
            encoding=encoding,
        )
    return None


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

    Shapes:
        ``(x (N, in_channels), edge_index (2, E)) -> (N, hidden_channels)``.

    Raises:
        ValueError: On an unknown ``kind`` or inconsistent widths.

    Examples:
        >>> type(build_encoder("gin", 6, 8, num_layers=2)).__name__
        'GINEncoder'
    """
    module = _gnn(
        kind,
        in_channels,
        hidden_channels,
        hidden_channels,
        num_layers,
        encoding=True,
        heads=heads,
        out_heads=heads,
        concat_out=True,
        in_drop=in_drop,
        attn_drop=attn_drop,
        negative_slope=negative_slope,
        residual=residual,
        norm=norm,
        activation=activation,
    )
    if module is None:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {kind!r}.")
    return module


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

    Shapes:
        ``(x (N, hidden_channels), edge_index (2, E)) -> (N, out_channels)``.

    Raises:
        ValueError: On an unknown ``kind``.

    Examples:
        >>> type(build_decoder("mlp", 8, 6)).__name__
        'NodeWise'
    """
    module = _gnn(
        kind,
        hidden_channels,
        hidden_channels,
        out_channels,
        1,
        encoding=False,
        heads=heads,
        out_heads=out_heads,
        concat_out=out_heads == 1,
        in_drop=in_drop,
        attn_drop=attn_drop,
        negative_slope=negative_slope,
        residual=residual,
        norm=norm,
        activation=activation,
    )
    if module is not None:
        return module
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

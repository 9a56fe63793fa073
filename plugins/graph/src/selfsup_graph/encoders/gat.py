"""GraphMAE's GAT (Hou et al., arXiv 2205.10803; ``graphmae/models/gat.py``) on PyG's ``GATConv``.

One layer, as in the authors' DGL code (``main`` branch)::

    h = dropout(x, in_drop)                      # feature dropout on the layer input
    z = GATConv(h)                               # W h, LeakyReLU(slope) logits, edge softmax,
                                                 # attention dropout, sum aggregation, + bias
    z = z + res_fc(h)                            # residual from the (dropped) input, optional
    z = act(norm(flatten_heads(z)))              # heads concatenated (or averaged)

PyG's ``GATConv`` only has attention dropout (``dropout=``), so feature dropout is applied here;
its own ``residual=`` always uses a linear map, so the residual is added here instead, with an
identity when the widths agree (GraphMAE). ``add_self_loops=True`` removes and re-adds one
self-loop per node, as GraphMAE's ``remove_self_loop().add_self_loop()``. Weights are
re-initialised like GraphMAE: ``xavier_normal_(gain=sqrt(2))`` on the projection, both attention
vectors and the residual map; bias 0 (PyG's default is Glorot uniform).

The authors' PyG branch applies ``res_fc`` to the already-projected features; here the residual
reads the layer input, as the DGL reference does.

Speed: with ``fused=True`` (default) a layer computes the same function from the same
``GATConv`` parameters with sparse CSR products (:mod:`selfsup_graph.encoders.sparse_attention`)
instead of per-edge messages; when a head is wider than the input (GraphMAE's decoder: 512 ->
1433) it aggregates the inputs first and projects afterwards (``sum_j a_ij W h_j = W sum_j a_ij
h_j``), and it can compute only some output rows (``target_nodes``: the decoder only needs the
masked nodes). ``fused=False`` calls ``GATConv.forward``. Both agree to float rounding (tested).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv
from torch_geometric.utils import softmax

from selfsup.export import exportable
from selfsup_graph.encoders.blocks import make_activation, make_norm
from selfsup_graph.encoders.sparse_attention import (
    CSRGraph,
    csr_graph,
    edge_aggregate,
    restrict_rows,
)

__all__ = ["GATEncoder", "GATLayer"]


class GATLayer(nn.Module):
    """One GraphMAE GAT layer (see the module docstring for the exact order of operations).

    Args:
        in_channels: Input width.
        head_channels: Width of each head.
        heads: Number of attention heads (default 1).
        concat: Concatenate heads (output ``heads * head_channels``) or average them
            (output ``head_channels``); default True.
        in_drop: Feature dropout on the input (default 0).
        attn_drop: Dropout on the attention coefficients (default 0).
        negative_slope: LeakyReLU slope of the attention logits (default 0.2).
        residual: Add a residual from the input (identity if the widths agree, else a bias-free
            linear map); default False.
        norm: None, ``"batchnorm"`` or ``"layernorm"`` after the heads are merged.
        activation: Activation name after the norm, or None (default None).
        fused: Aggregate with sparse CSR products (default True) instead of
            ``GATConv.forward`` (same parameters, same function).

    Shapes:
        x: ``(N, in_channels)``, edge_index: ``(2, E)`` (or a :class:`CSRGraph`) ->
        ``(N, out_channels)``.
    """

    def __init__(
        self,
        in_channels: int,
        head_channels: int,
        heads: int = 1,
        concat: bool = True,
        in_drop: float = 0.0,
        attn_drop: float = 0.0,
        negative_slope: float = 0.2,
        residual: bool = False,
        norm: str | None = None,
        activation: str | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.in_drop = in_drop
        self.fused = fused
        self.out_channels = head_channels * heads if concat else head_channels
        self.conv = GATConv(
            in_channels,
            head_channels,
            heads=heads,
            concat=concat,
            negative_slope=negative_slope,
            dropout=attn_drop,
            add_self_loops=True,
            bias=True,
        )
        self.res_fc: nn.Module | None = None
        if residual:
            self.res_fc = (
                nn.Identity()
                if in_channels == self.out_channels
                else nn.Linear(in_channels, self.out_channels, bias=False)
            )
        self.norm = make_norm(norm, self.out_channels)
        self.act = make_activation(activation)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GraphMAE's initialisation: xavier normal with gain sqrt(2), bias 0."""
        gain = math.sqrt(2.0)
        nn.init.xavier_normal_(self.conv.lin.weight, gain=gain)
        nn.init.xavier_normal_(self.conv.att_src, gain=gain)
        nn.init.xavier_normal_(self.conv.att_dst, gain=gain)
        nn.init.zeros_(self.conv.bias)
        if isinstance(self.res_fc, nn.Linear):
            nn.init.xavier_normal_(self.res_fc.weight, gain=gain)

    def _fused_conv(self, h: Tensor, graph: CSRGraph) -> Tensor:
        """``GATConv.forward`` (self-loops added, no edge features) for ``graph``'s rows."""
        conv = self.conv
        n, heads, channels = h.shape[0], conv.heads, conv.out_channels
        weight = conv.lin.weight.view(heads, channels, -1)  # (H, C, in)
        aggregate_first = h.shape[1] < channels
        if aggregate_first:  # attention logits straight from h: a . (W h) = (W^T a) . h
            a_src = h @ torch.einsum("hci,hc->ih", weight, conv.att_src[0])
            a_dst = h @ torch.einsum("hci,hc->ih", weight, conv.att_dst[0])
        else:
            z = conv.lin(h).view(n, heads, channels)
            a_src = (z * conv.att_src).sum(-1)
            a_dst = (z * conv.att_dst).sum(-1)
        logits = F.leaky_relu(a_src[graph.src] + a_dst[graph.dst], conv.negative_slope)
        alpha = softmax(logits, graph.row, num_nodes=graph.num_rows)
        alpha = F.dropout(alpha, p=conv.dropout, training=self.training)
        if aggregate_first:
            agg = edge_aggregate(alpha, h.unsqueeze(1).expand(n, heads, h.shape[1]), graph)
            out = torch.einsum("rhi,hci->rhc", agg, weight)
        else:
            out = edge_aggregate(alpha, z, graph)
        rows = graph.num_rows
        out = out.reshape(rows, heads * channels) if conv.concat else out.mean(dim=1)
        return out + conv.bias

    def forward(
        self, x: Tensor, edge_index: Tensor | CSRGraph, target_nodes: Tensor | None = None
    ) -> Tensor:
        """Outputs of all nodes, or only of ``target_nodes`` (rows in that order)."""
        h = F.dropout(x, p=self.in_drop, training=self.training)
        if self.fused:
            graph = edge_index
            if not isinstance(graph, CSRGraph):
                graph = csr_graph(graph, h.shape[0])
            if target_nodes is not None:
                graph = restrict_rows(graph, target_nodes)
            out = self._fused_conv(h, graph)
        else:
            if isinstance(edge_index, CSRGraph):
                edge_index = torch.stack([edge_index.src, edge_index.dst])
            out = self.conv(h, edge_index)
            if target_nodes is not None:
                out = out.index_select(0, target_nodes)
        if target_nodes is not None:
            h = h.index_select(0, target_nodes)
        if self.res_fc is not None:
            out = out + self.res_fc(h)
        return self.act(self.norm(out))


@exportable("graph:gat")
class GATEncoder(nn.Module):
    """A stack of :class:`GATLayer` s: GraphMAE's ``GAT`` (encoder or decoder).

    Hidden layers have ``heads`` heads of width ``hidden_channels // heads``, concatenated. The
    last layer has ``out_heads`` heads of width ``out_channels // out_heads`` (concatenated) —
    or, with ``concat_out=False``, ``out_heads`` heads of width ``out_channels``, averaged.
    ``encoding=True`` (the encoder) gives the last layer residual, norm and activation like every
    other layer; ``encoding=False`` (the decoder) leaves them out of the last layer.

    GraphMAE Cora encoder: ``GATEncoder(1433, 512, 512, num_layers=2, heads=4)`` (4 x 128 per
    layer, PReLU, no norm/residual); decoder: ``GATEncoder(512, 512, 1433, num_layers=1,
    heads=4, out_heads=1, encoding=False)``.

    Args:
        in_channels: Input width ``F``.
        hidden_channels: Width of hidden layers (all heads together; default 512).
        out_channels: Output width (default 512).
        num_layers: Number of layers >= 1 (default 2).
        heads: Heads of the hidden layers (default 4).
        out_heads: Heads of the last layer (default: ``heads``).
        concat_out: Concatenate (True, default) or average the last layer's heads.
        in_drop: Feature dropout before every layer (default 0.2).
        attn_drop: Attention dropout (default 0.1).
        negative_slope: LeakyReLU slope of the attention logits (default 0.2).
        residual: Residual connections (default False, GraphMAE Cora).
        norm: None (default), ``"batchnorm"`` or ``"layernorm"``.
        activation: Activation name (default ``"prelu"``).
        encoding: Encoder (True, default) or decoder (False) semantics of the last layer.
        fused: Sparse CSR aggregation (default True; see :class:`GATLayer`).

    Shapes:
        x: ``(N, in_channels)``, edge_index: ``(2, E)`` -> ``(N, out_channels)``.

    Raises:
        ValueError: If a width is not divisible by its number of heads or ``num_layers < 1``.

    Exported as the component ``graph:gat`` (``selfsup export``,
    :func:`selfsup.export.load_pretrained`).

    Examples:
        >>> import torch
        >>> encoder = GATEncoder(6, 8, 8, num_layers=2, heads=2).eval()
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> encoder(torch.randn(3, 6), edge_index).shape
        torch.Size([3, 8])
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 512,
        out_channels: int = 512,
        num_layers: int = 2,
        heads: int = 4,
        out_heads: int | None = None,
        concat_out: bool = True,
        in_drop: float = 0.2,
        attn_drop: float = 0.1,
        negative_slope: float = 0.2,
        residual: bool = False,
        norm: str | None = None,
        activation: str | None = "prelu",
        encoding: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        out_heads = heads if out_heads is None else out_heads
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        if heads < 1 or out_heads < 1:
            raise ValueError(f"heads and out_heads must be >= 1, got {heads} and {out_heads}.")
        if num_layers > 1 and hidden_channels % heads:
            raise ValueError(
                f"hidden_channels ({hidden_channels}) must be divisible by heads ({heads}): "
                "heads are concatenated."
            )
        if concat_out and out_channels % out_heads:
            raise ValueError(
                f"out_channels ({out_channels}) must be divisible by out_heads ({out_heads}) "
                "when the last layer's heads are concatenated."
            )
        common = {
            "in_drop": in_drop,
            "attn_drop": attn_drop,
            "negative_slope": negative_slope,
            "fused": fused,
        }
        layers = []
        width = in_channels
        for _ in range(num_layers - 1):
            layers.append(
                GATLayer(
                    width,
                    hidden_channels // heads,
                    heads,
                    concat=True,
                    residual=residual,
                    norm=norm,
                    activation=activation,
                    **common,
                )
            )
            width = hidden_channels
        last_width = out_channels // out_heads if concat_out else out_channels
        layers.append(
            GATLayer(
                width,
                last_width,
                out_heads,
                concat=concat_out,
                residual=residual and encoding,
                norm=norm if encoding else None,
                activation=activation if encoding else None,
                **common,
            )
        )
        self.layers = nn.ModuleList(layers)
        self.in_channels = in_channels
        self.out_channels = out_channels

    @property
    def reads_csr(self) -> bool:
        """True when the layers are fused: :meth:`forward` then reads a :class:`CSRGraph`, and a
        caller running several modules on one batch sorts it once for all of them
        (:mod:`selfsup_graph.encoders.edges`)."""
        return bool(self.layers[0].fused)

    def forward(
        self, x: Tensor, edge_index: Tensor | CSRGraph, target_nodes: Tensor | None = None
    ) -> Tensor:
        """Node outputs; with ``target_nodes`` the last layer computes only those rows."""
        if self.reads_csr and not isinstance(edge_index, CSRGraph):
            edge_index = csr_graph(edge_index, x.shape[0])  # sorted once for all layers
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x, edge_index, target_nodes if i == last else None)
        return x

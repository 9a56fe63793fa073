"""GCN layers (Kipf and Welling, arXiv 1609.02907): GRACE's encoder and GraphMAE's ``gcn``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv

from selfsup.export import exportable
from selfsup_graph.encoders.blocks import ACTIVATIONS, make_activation, make_norm

__all__ = ["GCNEncoder"]


@exportable("graph:gcn")
class GCNEncoder(nn.Module):
    """``num_layers`` ``GCNConv`` layers; per layer ``act(norm(GCNConv(dropout(x)) + res(x)))``.

    Layer widths: ``in -> hidden -> ... -> hidden -> out``. With the defaults (two layers,
    ``hidden = 2 * out``, ReLU, no dropout/norm/residual) this is GRACE's encoder. GraphMAE's GCN
    (``graphmae/models/gcn.py``) adds feature dropout before every layer, optional norm and
    residual, and — as a decoder — leaves activation, norm and residual out of the last layer
    (``last_activation=False``). ``GCNConv`` adds the missing self-loops and normalises
    symmetrically (``D^-1/2 (A + I) D^-1/2``), so isolated nodes keep their own features.

    Args:
        in_channels: Node feature size ``F``.
        hidden_channels: Width of the inner layers (default 256).
        out_channels: Embedding size (default 128).
        num_layers: Number of GCN layers, at least 1 (default 2).
        activation: ``"relu"`` (default), ``"prelu"`` (one slope per channel), ``"elu"``,
            ``"gelu"`` or ``"identity"``.
        dropout: Feature dropout before every layer (default 0).
        norm: None (default), ``"batchnorm"`` or ``"layernorm"``.
        residual: Residual from each layer's input (identity or bias-free linear; default False).
        last_activation: Activation, norm and residual on the last layer too (default True).

    Shapes:
        x: ``(N, F)``, edge_index: ``(2, E)`` -> ``(N, out_channels)``.

    Exported as the component ``graph:gcn`` (``selfsup export``,
    :func:`selfsup.export.load_pretrained`).

    Examples:
        >>> import torch
        >>> encoder = GCNEncoder(6, hidden_channels=8, out_channels=4)
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> encoder(torch.randn(3, 6), edge_index).shape
        torch.Size([3, 4])
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 256,
        out_channels: int = 128,
        num_layers: int = 2,
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str | None = None,
        residual: bool = False,
        last_activation: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")
        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(
            GCNConv(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        acts, norms, residuals = [], [], []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            full = last_activation or i < num_layers - 1
            if not full:
                acts.append(nn.Identity())
            elif activation == "prelu":
                acts.append(nn.PReLU(b))
            else:
                acts.append(make_activation(activation))
            norms.append(make_norm(norm if full else None, b))
            if residual and full:
                residuals.append(nn.Identity() if a == b else nn.Linear(a, b, bias=False))
            else:
                residuals.append(None)
        self.acts = nn.ModuleList(acts)
        self.norms = nn.ModuleList(norms)
        self.residuals = nn.ModuleList(r for r in residuals if r is not None)
        self._has_residual = [r is not None for r in residuals]
        self.dropout = dropout
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.out_dim = out_channels

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        residuals = iter(self.residuals)
        for conv, norm, act, has_res in zip(
            self.convs, self.norms, self.acts, self._has_residual, strict=True
        ):
            h = F.dropout(x, p=self.dropout, training=self.training) if self.dropout else x
            out = conv(h, edge_index)
            if has_res:
                out = out + next(residuals)(h)
            x = act(norm(out))
        return x

"""GraphMAE's GIN (``graphmae/models/gin.py``; Xu et al., arXiv 1810.00826) on PyG's ``GINConv``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GINConv

from selfsup.export import exportable
from selfsup_graph.encoders.blocks import make_activation, make_norm

__all__ = ["GINEncoder"]


def _mlp(
    in_channels: int, hidden: int, out_channels: int, norm: str | None, act: str | None
) -> nn.Sequential:
    """GraphMAE's 2-layer ``MLP``: ``Linear -> norm -> act -> Linear``."""
    return nn.Sequential(
        nn.Linear(in_channels, hidden),
        make_norm(norm, hidden),
        make_activation(act),
        nn.Linear(hidden, out_channels),
    )


@exportable("graph:gin")
class GINEncoder(nn.Module):
    """A stack of GIN layers with sum aggregation and ``eps = 0`` (GraphMAE's graph encoder).

    Per layer: ``h = dropout(x, in_drop)``, ``z = MLP((1 + eps) h_v + sum_{u in N(v)} h_u)``
    (``MLP = Linear-norm-act-Linear``), then ``act(norm(z))`` and an optional residual from
    ``h``. ``encoding=True`` (the encoder) applies norm, activation and residual after the last
    layer too; ``encoding=False`` (the decoder) ends with the MLP's linear output. (GraphMAE's
    code applies the last encoder layer's norm and activation only when a norm is configured;
    here they always apply — every published graph config uses a norm.)

    Args:
        in_channels: Input width ``F``.
        hidden_channels: Hidden width (default 512).
        out_channels: Output width (default 512).
        num_layers: Number of GIN layers >= 1 (default 2).
        in_drop: Feature dropout before every layer (default 0.2).
        activation: Activation name (default ``"prelu"``).
        norm: ``"batchnorm"`` (default), ``"layernorm"`` or None.
        residual: Residual connections (default False).
        encoding: Encoder (True, default) or decoder (False) semantics of the last layer.
        train_eps: Learn ``eps`` (default False: ``eps = 0``).

    Shapes:
        x: ``(N, in_channels)``, edge_index: ``(2, E)`` -> ``(N, out_channels)``.

    Exported as the component ``graph:gin`` (``selfsup export``,
    :func:`selfsup.export.load_pretrained`).

    Examples:
        >>> import torch
        >>> encoder = GINEncoder(6, hidden_channels=8, out_channels=8).eval()
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
        in_drop: float = 0.2,
        activation: str | None = "prelu",
        norm: str | None = "batchnorm",
        residual: bool = False,
        encoding: bool = True,
        train_eps: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        self.convs = nn.ModuleList()
        self.posts = nn.ModuleList()
        self.residuals = nn.ModuleList()
        width = in_channels
        for i in range(num_layers):
            last = i == num_layers - 1
            out = out_channels if last else hidden_channels
            self.convs.append(
                GINConv(
                    _mlp(width, hidden_channels, out, norm, activation),
                    eps=0.0,
                    train_eps=train_eps,
                )
            )
            full = encoding or not last
            self.posts.append(
                nn.Sequential(make_norm(norm, out), make_activation(activation))
                if full
                else nn.Identity()
            )
            if residual and full:
                self.residuals.append(
                    nn.Identity() if width == out else nn.Linear(width, out, bias=False)
                )
            else:
                self.residuals.append(nn.Identity())
            width = out
        self._residual = [residual and (encoding or i < num_layers - 1) for i in range(num_layers)]
        self.in_drop = in_drop
        self.in_channels = in_channels
        self.out_channels = out_channels

    def layer_outputs(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        """Every layer's node embeddings, first to last (InfoGraph/GraphCL concatenate their
        pooled readouts); the last is :meth:`forward`'s output."""
        outs = []
        for conv, post, res, use_res in zip(
            self.convs, self.posts, self.residuals, self._residual, strict=True
        ):
            h = F.dropout(x, p=self.in_drop, training=self.training)
            out = post(conv(h, edge_index))
            x = out + res(h) if use_res else out
            outs.append(x)
        return outs

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.layer_outputs(x, edge_index)[-1]

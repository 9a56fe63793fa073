"""Deep Graph Infomax (Velickovic et al., arXiv 1809.10341): local-global mutual information."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup_graph.encoders.gcn import GCNEncoder
from selfsup_graph.methods.node_method import NodeEncoderMethod

__all__ = ["DGI", "dgi_loss"]


def dgi_loss(positive: Tensor, negative: Tensor, summary: Tensor, weight: Tensor) -> Tensor:
    """DGI's objective: tell the graph's own node embeddings from the corrupted graph's ones.

    With the bilinear discriminator ``D(h, s) = \\sigma(h^T W s)``, the ``N`` real patches
    ``h_i``, the ``M`` corrupted ones ``\\tilde h_j`` and the summary ``s``:

    .. math::

        L = -\\frac{1}{N + M} \\Big( \\sum_{i=1}^{N} \\log D(h_i, s)
            + \\sum_{j=1}^{M} \\log\\big(1 - D(\\tilde h_j, s)\\big) \\Big)

    (the paper's Eq. 1, binary cross-entropy with logits ``h^T W s``).

    Shapes:
        positive: ``(N, D)``; negative: ``(M, D)``; summary: ``(D,)``; weight: ``(D, D)`` ->
        scalar.

    Examples:
        >>> loss = dgi_loss(torch.zeros(3, 4), torch.zeros(3, 4), torch.ones(4), torch.eye(4))
        >>> round(float(loss), 4)  # undecided discriminator: log 2
        0.6931
    """
    pos = positive @ (weight @ summary)
    neg = negative @ (weight @ summary)
    logits = torch.cat([pos, neg])
    labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
    return F.binary_cross_entropy_with_logits(logits, labels)


class DGI(NodeEncoderMethod):
    """Deep Graph Infomax: maximise the mutual information between node embeddings and a
    summary of the whole graph.

    The corruption ``C(X, A) = (P X, A)`` shuffles the node feature rows (a random
    permutation ``P``) over the same edges; one GCN encodes the graph (``H``) and its
    corruption (``\\tilde H``), the readout is ``s = \\sigma(\\frac{1}{N} \\sum_i h_i)`` and a
    bilinear discriminator scores each node against ``s`` (:func:`dgi_loss`). Evaluation
    features (:meth:`embed`) are ``H`` of the uncorrupted graph.

    Defaults are the paper's transductive setting (Cora, CiteSeer, PubMed): one GCN layer of
    512 units with PReLU; the reference trains with Adam at lr 0.001 and stops when the loss
    has not improved for 20 epochs. The graph is read as given (see
    :class:`~selfsup_graph.methods.GRACE`). Randomness comes from torch's global RNG.

    Args:
        in_channels: Node feature size ``F`` (default 1433, Cora).
        hidden_channels: Embedding size (default 512).
        num_layers: GCN layers (default 1; inner layers are ``hidden_channels`` wide).

    Shapes:
        batch: a ``torch_geometric.data.Data`` with ``x`` ``(N, F)`` (finite, ``N >= 2`` to
            train: a one-node permutation corrupts nothing) and ``edge_index`` ``(2, E)``.
        embed: the same -> ``(N, hidden_channels)``.

    Raises:
        MalformedBatchError: not such a graph, fewer than 2 nodes to train, or NaN/inf
            features.

    Examples:
        >>> from torch_geometric.data import Data
        >>> graph = Data(x=torch.randn(6, 5), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]))
        >>> method = DGI(in_channels=5, hidden_channels=8)
        >>> method.training_losses(graph)["loss"].shape, method.embed(graph).shape
        (torch.Size([]), torch.Size([6, 8]))
    """

    modality = "graph"

    def __init__(
        self, in_channels: int = 1433, hidden_channels: int = 512, num_layers: int = 1
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.encoder = GCNEncoder(
            in_channels,
            hidden_channels,
            hidden_channels,
            num_layers=num_layers,
            activation="prelu",
        )
        self.weight = nn.Parameter(torch.empty(hidden_channels, hidden_channels))
        nn.init.xavier_uniform_(self.weight)  # the reference's bilinear initialisation

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x, edge_index = self.training_graph(batch, "the corruption shuffles their features")
        h = self.encoder(x, edge_index)
        h_corrupt = self.encoder(x[torch.randperm(x.shape[0], device=x.device)], edge_index)
        summary = torch.sigmoid(h.mean(dim=0))
        return {"loss": dgi_loss(h, h_corrupt, summary, self.weight)}

    def export_encoder(self) -> GCNEncoder:
        """The GCN (component ``graph:gcn``) without the discriminator."""
        return self.encoder

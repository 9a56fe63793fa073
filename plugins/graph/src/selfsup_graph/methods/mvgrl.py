"""MVGRL (Hassani and Khasahmadi, arXiv 2006.05582): contrast an adjacency view with a diffusion
view of the same graph."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.export import exportable
from selfsup_graph.augment.diffusion import ppr_diffusion
from selfsup_graph.encoders.gcn import GCNEncoder
from selfsup_graph.methods.dgi import dgi_loss
from selfsup_graph.methods.node_method import NodeEncoderMethod

__all__ = ["MVGRL", "MVGRLEncoder"]


@exportable("graph:mvgrl_encoder")
class MVGRLEncoder(nn.Module):
    """MVGRL's two one-layer GCNs: one over the adjacency, one over its PPR diffusion.

    ``h^a = \\mathrm{PReLU}(\\hat A X W_a + b_a)`` with ``\\hat A`` the GCN-normalised adjacency
    (:class:`~selfsup_graph.encoders.GCNEncoder`), and ``h^d = \\mathrm{PReLU}(S X W_d + b_d)``
    with the dense diffusion ``S`` (:func:`~selfsup_graph.augment.ppr_diffusion`). ``forward``
    returns ``h^a + h^d``, the embedding MVGRL evaluates; :meth:`views` returns both. The last
    graph's ``S`` is kept (the diffusion costs a dense inversion) and rebuilt when the edges
    change.

    Args:
        in_channels: Node feature size ``F``.
        hidden_channels: Embedding size (default 512).
        alpha: PPR teleport probability (default 0.2).

    Shapes:
        x: ``(N, F)``, edge_index: ``(2, E)`` -> ``(N, hidden_channels)``.

    Examples:
        >>> encoder = MVGRLEncoder(5, hidden_channels=8)
        >>> encoder(torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]])).shape
        torch.Size([4, 8])
    """

    def __init__(self, in_channels: int, hidden_channels: int = 512, alpha: float = 0.2) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.adjacency = GCNEncoder(
            in_channels, hidden_channels, hidden_channels, num_layers=1, activation="prelu"
        )
        self.diffusion = nn.Linear(in_channels, hidden_channels, bias=False)
        self.diffusion_bias = nn.Parameter(torch.zeros(hidden_channels))
        self.diffusion_act = nn.PReLU(hidden_channels)
        nn.init.xavier_uniform_(self.diffusion.weight)
        self._cache: tuple[Tensor, int, Tensor] | None = None

    def diffusion_matrix(self, edge_index: Tensor, num_nodes: int) -> Tensor:
        """``S`` of this graph (cached for the last graph seen)."""
        cached = self._cache
        if (
            cached is None
            or cached[1] != num_nodes
            or cached[0].shape != edge_index.shape
            or cached[0].device != edge_index.device
            or not torch.equal(cached[0], edge_index)
        ):
            s = ppr_diffusion(edge_index, num_nodes, self.alpha)
            cached = (edge_index.clone(), num_nodes, s)
            self._cache = cached
        return cached[2]

    def views(self, x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """``(h^a, h^d)``: the adjacency view's and the diffusion view's node embeddings."""
        s = self.diffusion_matrix(edge_index, x.shape[0]).to(x.dtype)
        h_d = self.diffusion_act(s @ self.diffusion(x) + self.diffusion_bias)
        return self.adjacency(x, edge_index), h_d

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h_a, h_d = self.views(x, edge_index)
        return h_a + h_d


class MVGRL(NodeEncoderMethod):
    """MVGRL: each view's node embeddings are told apart from a corruption's by the *other*
    view's graph summary.

    The graph is seen through its adjacency and its personalised-PageRank diffusion
    (:class:`MVGRLEncoder`: one GCN per view, weights not shared). With node embeddings
    ``h^a, h^d``, summaries ``s^v = \\sigma(\\mathrm{mean}_i h^v_i)``, the embeddings
    ``\\tilde h^a, \\tilde h^d`` of the corrupted graph (node features shuffled over the same
    edges, as DGI) and one bilinear discriminator ``D(h, s) = \\sigma(h^T W s)``:

    .. math::

        L = \\tfrac12 \\mathrm{BCE}\\big(D(h^d, s^a) \\to 1, D(\\tilde h^d, s^a) \\to 0\\big)
          + \\tfrac12 \\mathrm{BCE}\\big(D(h^a, s^d) \\to 1, D(\\tilde h^a, s^d) \\to 0\\big)

    (:func:`~selfsup_graph.methods.dgi_loss` per direction: the reference's binary
    cross-entropy over the four score sets). Evaluation features (:meth:`embed`) are
    ``h^a + h^d``.

    Defaults are the paper's node-classification settings (one GCN layer of 512 per view,
    PReLU, ``alpha = 0.2``); the reference trains with Adam at lr 0.001 on sampled subgraphs
    of 2,000 nodes, four per batch, stopping after 20 epochs without improvement. Here each
    batch is one graph, trained whole (a small graph such as Cora) or as the neighbour-sampled
    subgraphs of a graph data module; the dense diffusion limits a batch to
    :data:`~selfsup_graph.augment.MAX_DENSE_NODES` nodes. Randomness comes from torch's global
    RNG.

    Args:
        in_channels: Node feature size ``F`` (default 1433, Cora).
        hidden_channels: Embedding size (default 512).
        alpha: PPR teleport probability (default 0.2).

    Shapes:
        batch: a ``torch_geometric.data.Data`` with ``x`` ``(N, F)`` (finite, ``N >= 2`` to
            train) and ``edge_index`` ``(2, E)``.
        embed: the same -> ``(N, hidden_channels)``.

    Raises:
        MalformedBatchError: not such a graph, fewer than 2 nodes to train, or NaN/inf
            features.
        ValueError: a graph larger than the dense diffusion allows.

    Examples:
        >>> from torch_geometric.data import Data
        >>> graph = Data(x=torch.randn(6, 5), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]))
        >>> method = MVGRL(in_channels=5, hidden_channels=8)
        >>> method.training_losses(graph)["loss"].shape, method.embed(graph).shape
        (torch.Size([]), torch.Size([6, 8]))
    """

    modality = "graph"

    def __init__(
        self, in_channels: int = 1433, hidden_channels: int = 512, alpha: float = 0.2
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.encoder = MVGRLEncoder(in_channels, hidden_channels, alpha)
        self.weight = nn.Parameter(torch.empty(hidden_channels, hidden_channels))
        nn.init.xavier_uniform_(self.weight)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x, edge_index = self.training_graph(batch, "the corruption shuffles their features")
        h_a, h_d = self.encoder.views(x, edge_index)
        shuffled = x[torch.randperm(x.shape[0], device=x.device)]
        c_a, c_d = self.encoder.views(shuffled, edge_index)
        s_a, s_d = torch.sigmoid(h_a.mean(dim=0)), torch.sigmoid(h_d.mean(dim=0))
        loss = 0.5 * (dgi_loss(h_d, c_d, s_a, self.weight) + dgi_loss(h_a, c_a, s_d, self.weight))
        return {"loss": loss}

    def export_encoder(self) -> MVGRLEncoder:
        """Both views' GCNs (component ``graph:mvgrl_encoder``), without the discriminator."""
        return self.encoder

"""GRACE (Zhu et al., arXiv 2006.04131): graph contrastive representation learning."""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from selfsup.checks import check_positive
from selfsup.encoders import ProjectionHead, mlp_blocks
from selfsup.losses import nt_xent
from selfsup_graph.encoders.gcn import GCNEncoder
from selfsup_graph.methods.node_method import NodeEncoderMethod

__all__ = ["GRACE"]


class GRACE(NodeEncoderMethod):
    """GRACE: node-level contrast between two corrupted views of one graph.

    Each view removes edges (probability ``drop_edge_k``) and zeroes feature columns
    (probability ``drop_feature_k``); a shared GCN encodes both, a projection head
    ``g(h) = W_2 \\mathrm{ELU}(W_1 h)`` maps the embeddings, and for node ``i`` with
    projections ``u_i`` (view 1) and ``v_i`` (view 2), ``\\theta`` the cosine similarity:

    .. math::

        \\ell(u_i, v_i) = -\\log \\frac{e^{\\theta(u_i, v_i)/\\tau}}
            {e^{\\theta(u_i, v_i)/\\tau} + \\sum_{k \\ne i} e^{\\theta(u_i, v_k)/\\tau}
             + \\sum_{k \\ne i} e^{\\theta(u_i, u_k)/\\tau}}, \\qquad
        J = \\frac{1}{2N} \\sum_i \\big(\\ell(u_i, v_i) + \\ell(v_i, u_i)\\big)

    with inter-view (``v_k``) and intra-view (``u_k``) negatives. This is exactly NT-Xent on the
    two views' node projections, computed by :func:`selfsup.losses.nt_xent` (``chunk_size``
    streams it for large graphs). Evaluation features (:meth:`embed`) are the encoder
    output on the uncorrupted graph. Randomness comes from torch's global RNG.

    The graph is read as given, as GRACE's reference reads PyG's Planetoid graphs: directed
    edges pass messages from source to target only, and a duplicated edge is a parallel edge
    (counted twice in the GCN normalisation); self-loops are replaced by exactly one per node
    (``GCNConv``). Isolated nodes are embedded from their own features.

    Args:
        in_channels: Node feature size ``F`` (default 1433, Cora).
        hidden_channels: GCN hidden width (default 256 = 2 * out_channels, as GRACE).
        out_channels: Node embedding size (default 128).
        projection_hidden: Hidden size of the projection head (default 128).
        num_layers: GCN layers (default 2).
        activation: ``"relu"`` or ``"prelu"`` (default ``"relu"``, GRACE's Cora setting).
        temperature: :math:`\\tau` (default 0.4).
        drop_edge_1: Edge removal probability of view 1 (default 0.2).
        drop_edge_2: Edge removal probability of view 2 (default 0.4).
        drop_feature_1: Feature-column masking probability of view 1 (default 0.3).
        drop_feature_2: Feature-column masking probability of view 2 (default 0.4).
        chunk_size: Stream the ``2N x 2N`` similarity matrix in column blocks (default None).

    Shapes:
        batch: a ``torch_geometric.data.Data`` (or ``Batch``) with ``x`` ``(N, F)`` floating
            point and finite, ``N >= 2`` for training (``N >= 1`` for ``embed``), and
            ``edge_index`` ``(2, E)`` int64 with entries in ``[0, N)``.
        embed: the same -> ``(N, out_channels)``, one row per node.

    Raises:
        MalformedBatchError: the batch is not such a ``Data`` object, has no nodes (fewer than
            2 for training) or NaN/inf features (the message names the nodes).
    """

    modality = "graph"

    def __init__(
        self,
        in_channels: int = 1433,
        hidden_channels: int = 256,
        out_channels: int = 128,
        projection_hidden: int = 128,
        num_layers: int = 2,
        activation: Literal["relu", "prelu"] = "relu",
        temperature: float = 0.4,
        drop_edge_1: float = 0.2,
        drop_edge_2: float = 0.4,
        drop_feature_1: float = 0.3,
        drop_feature_2: float = 0.4,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        self.set_views((drop_edge_1, drop_edge_2), (drop_feature_1, drop_feature_2))
        self.in_channels = in_channels
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.encoder = GCNEncoder(
            in_channels, hidden_channels, out_channels, num_layers=num_layers, activation=activation
        )
        # Linear-ELU-Linear; keys projector.0.* and projector.2.* as before
        self.projector = ProjectionHead(
            mlp_blocks(
                [out_channels, projection_hidden, out_channels], batch_norm=False, activation=nn.ELU
            )
        )

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x, edge_index = self.training_graph(batch, "the other nodes are the negatives")
        h1 = self.encoder(*self.view(x, edge_index, 0))
        h2 = self.encoder(*self.view(x, edge_index, 1))
        u, v = self.projector(h1), self.projector(h2)
        loss = nt_xent(u, v, self.temperature, chunk_size=self.chunk_size)
        return {"loss": loss}

    def export_encoder(self) -> GCNEncoder:
        """The GCN encoder ``(x, edge_index) -> (N, out_channels)`` that :meth:`embed` runs,
        without the projection head (component ``graph:gcn``)."""
        return self.encoder

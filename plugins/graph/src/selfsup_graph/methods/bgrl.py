"""BGRL (Thakoor et al., arXiv 2102.06514): bootstrapped graph latents, no negatives."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.losses import negative_cosine
from selfsup.teachers import EMATeacher
from selfsup_graph.encoders.gcn import GCNEncoder
from selfsup_graph.methods.node_method import NodeEncoderMethod

__all__ = ["BGRL"]


class BGRL(NodeEncoderMethod):
    """BGRL: an online GCN predicts an EMA target GCN's node embeddings of another view.

    Two views remove edges (probability ``drop_edge_k``) and zero feature columns
    (``drop_feature_k``), as GRACE's. The online encoder ``E_\\theta`` and predictor
    ``p_\\theta`` map view 1 to ``\\tilde z_1 = p_\\theta(E_\\theta(\\tilde G_1))``; the target
    encoder ``E_\\phi`` (an exponential moving average of ``E_\\theta``,
    :class:`~selfsup.teachers.EMATeacher`, momentum ``cosine:0.99:1.0`` by default) gives
    ``\\tilde h_2 = E_\\phi(\\tilde G_2)``. The symmetric loss over the ``N`` nodes is

    .. math::

        L = \\frac{1}{N} \\sum_i \\big(4 - 2 \\cos(\\tilde z_{1,i}, \\mathrm{sg}\\,\\tilde h_{2,i})
            - 2 \\cos(\\tilde z_{2,i}, \\mathrm{sg}\\,\\tilde h_{1,i})\\big)

    (:func:`selfsup.losses.negative_cosine`; the paper's ``-\\frac{2}{N}\\sum_i \\cos`` up to a
    constant). No projector: the predictor reads the encoder's output. No node is contrasted
    with another, so the step is linear in the nodes. Evaluation features (:meth:`embed`) are
    the online encoder's on the uncorrupted graph.

    Defaults follow the paper's small-graph settings (Amazon Computers, the authors' config): a
    2-layer GCN ``512 -> 256`` with BatchNorm and PReLU, predictor
    ``Linear(256, 512)-BN-PReLU-Linear(512, 256)``, ``p_{f,1}, p_{f,2} = 0.2, 0.1``,
    ``p_{e,1}, p_{e,2} = 0.5, 0.4``. The graph is read as given (see
    :class:`~selfsup_graph.methods.GRACE`). Randomness comes from torch's global RNG.

    Args:
        in_channels: Node feature size ``F`` (default 1433, Cora).
        hidden_channels: Inner GCN width (default 512).
        out_channels: Node embedding size (default 256).
        num_layers: GCN layers (default 2).
        predictor_hidden: Predictor hidden width (default 512).
        momentum: EMA schedule of the target encoder (default ``"cosine:0.99:1.0"``).
        drop_edge_1, drop_edge_2: Edge removal probabilities (default 0.5, 0.4).
        drop_feature_1, drop_feature_2: Feature-column masking probabilities (default 0.2, 0.1).

    Shapes:
        batch: a ``torch_geometric.data.Data`` with ``x`` ``(N, F)`` (finite, ``N >= 2`` to
            train) and ``edge_index`` ``(2, E)``.
        embed: the same -> ``(N, out_channels)``.

    Raises:
        MalformedBatchError: not such a graph, fewer than 2 nodes to train, or NaN/inf
            features.

    Examples:
        >>> from torch_geometric.data import Data
        >>> graph = Data(x=torch.randn(6, 5), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]))
        >>> method = BGRL(in_channels=5, hidden_channels=8, out_channels=4, predictor_hidden=8)
        >>> method.training_losses(graph)["loss"].shape, method.embed(graph).shape
        (torch.Size([]), torch.Size([6, 4]))
    """

    modality = "graph"

    def __init__(
        self,
        in_channels: int = 1433,
        hidden_channels: int = 512,
        out_channels: int = 256,
        num_layers: int = 2,
        predictor_hidden: int = 512,
        momentum: str | float = "cosine:0.99:1.0",
        drop_edge_1: float = 0.5,
        drop_edge_2: float = 0.4,
        drop_feature_1: float = 0.2,
        drop_feature_2: float = 0.1,
    ) -> None:
        super().__init__()
        self.set_views((drop_edge_1, drop_edge_2), (drop_feature_1, drop_feature_2))
        self.in_channels = in_channels
        self.encoder = GCNEncoder(
            in_channels,
            hidden_channels,
            out_channels,
            num_layers=num_layers,
            activation="prelu",
            norm="batchnorm",
        )
        self.predictor = nn.Sequential(
            nn.Linear(out_channels, predictor_hidden),
            nn.BatchNorm1d(predictor_hidden),
            nn.PReLU(predictor_hidden),
            nn.Linear(predictor_hidden, out_channels),
        )
        self.target_encoder = EMATeacher(self.encoder, momentum)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x, edge_index = self.training_graph(batch, "BatchNorm over the nodes")
        v1, v2 = self.view(x, edge_index, 0), self.view(x, edge_index, 1)
        z1, z2 = self.predictor(self.encoder(*v1)), self.predictor(self.encoder(*v2))
        h1, h2 = self.target_encoder(*v1), self.target_encoder(*v2)  # EMATeacher: no grad
        loss = negative_cosine(z1, h2) + negative_cosine(z2, h1)
        cos = F.cosine_similarity(z1.detach(), h2, dim=1).mean()
        return {"loss": loss, "prediction_cosine": cos}

    def export_encoder(self) -> GCNEncoder:
        """The online GCN (component ``graph:gcn``), the encoder BGRL keeps."""
        return self.encoder

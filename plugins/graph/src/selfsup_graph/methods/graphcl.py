"""GraphCL (You et al., arXiv 2010.13902): graph-level contrast between two augmented copies."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_add_pool

from selfsup.checks import check_positive, check_probability
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import info_nce
from selfsup_graph.augment.views import (
    drop_edges,
    drop_nodes,
    mask_features,
    random_walk_subgraph,
)
from selfsup_graph.batch import node_features_and_edges
from selfsup_graph.encoders.blocks import check_choice
from selfsup_graph.encoders.gin import GINEncoder

__all__ = ["GRAPHCL_AUGMENTATIONS", "GraphCL"]

#: The per-graph augmentations GraphCL draws its two views from.
GRAPHCL_AUGMENTATIONS = ("drop_nodes", "subgraph", "mask_features", "drop_edges", "none")


class GraphCL(Method):
    """GraphCL: two augmentations of every graph in a batch, contrasted at graph level.

    Each graph of a batch gets two augmented copies (``augmentations``, each with strength
    ``aug_ratio``: ``drop_nodes`` removes nodes with their edges, ``subgraph`` keeps a connected
    random-walk subgraph of ``1 - aug_ratio`` of the nodes, ``mask_features`` zeroes feature
    columns, ``drop_edges`` removes edges). A GIN encodes both; the graph embedding is the
    concatenation over layers of the sum-pooled node embeddings (InfoGraph's readout, which
    GraphCL uses), then a projection head ``Linear-ReLU-Linear``. With projections ``z_n`` and
    ``z'_n`` of graph ``n`` and cosine similarity ``sim``, the loss is GraphCL's:

    .. math::

        \\ell_n = -\\log \\frac{\\exp(\\mathrm{sim}(z_n, z'_n)/\\tau)}
            {\\sum_{n' \\ne n} \\exp(\\mathrm{sim}(z_n, z'_{n'})/\\tau)}

    averaged over the batch: only the other view's graphs are negatives and the positive is
    not in the denominator (:func:`selfsup.losses.info_nce` with ``decoupled=True``).
    Evaluation features (:meth:`embed`) are the readout of the unaugmented graphs.

    Defaults follow the unsupervised TU setting of GraphCL's reference: GIN with 5 layers of
    32 units and batch norm, augmentation strength 0.2, ``tau = 0.2``, node dropping against
    subgraph; the reference trains 20 epochs with Adam at lr 0.01, batch 128. Augmentations run
    per graph on the host (small graphs; a Python loop over the batch). Randomness comes from
    torch's global RNG.

    Args:
        in_channels: Node feature size ``F`` (default 7: MUTAG's one-hot node labels).
        hidden_channels: GIN width (default 32).
        num_layers: GIN layers (default 5).
        augmentations: The two views' augmentations (default ``("drop_nodes", "subgraph")``).
        aug_ratio: Augmentation strength (default 0.2).
        temperature: ``tau`` (default 0.2).

    Shapes:
        batch: a ``torch_geometric.data.Batch`` of ``B >= 2`` graphs (``x`` ``(N, F)``,
            ``edge_index``, ``batch``).
        embed: the same -> ``(B, num_layers * hidden_channels)``.

    Raises:
        MalformedBatchError: not a batch of graphs, fewer than 2 graphs, NaN/inf features.
        ValueError: an unknown augmentation or a strength outside ``[0, 1)``.

    Examples:
        >>> from torch_geometric.data import Batch, Data
        >>> ring = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
        >>> graphs = Batch.from_data_list([Data(x=torch.randn(4, 3), edge_index=ring)] * 3)
        >>> method = GraphCL(in_channels=3, hidden_channels=8, num_layers=2)
        >>> method.training_losses(graphs)["loss"].shape, method.embed(graphs).shape
        (torch.Size([]), torch.Size([3, 16]))
    """

    modality = "graph"

    def __init__(
        self,
        in_channels: int = 7,
        hidden_channels: int = 32,
        num_layers: int = 5,
        augmentations: tuple[str, str] = ("drop_nodes", "subgraph"),
        aug_ratio: float = 0.2,
        temperature: float = 0.2,
    ) -> None:
        super().__init__()
        if len(augmentations) != 2:
            raise ValueError(f"augmentations must name two views, got {augmentations!r}.")
        for name in augmentations:
            check_choice("augmentations", name, GRAPHCL_AUGMENTATIONS)
        check_probability("aug_ratio", aug_ratio)
        check_positive("temperature", temperature)
        self.in_channels = in_channels
        self.augmentations = tuple(augmentations)
        self.aug_ratio = aug_ratio
        self.temperature = temperature
        self.encoder = GINEncoder(
            in_channels,
            hidden_channels,
            hidden_channels,
            num_layers=num_layers,
            in_drop=0.0,
            activation="relu",
            norm="batchnorm",
        )
        width = hidden_channels * num_layers
        self.projector = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, width)
        )

    def graphs(self, batch: Any) -> Batch:
        """The batch, validated: a PyG ``Batch`` (one ``Data`` counts as one graph)."""
        node_features_and_edges(batch, self.in_channels, type(self).__name__)
        if isinstance(batch, Data) and not isinstance(batch, Batch):
            batch = Batch.from_data_list([batch])
        return batch

    def augment(self, graph: Data, name: str) -> Data:
        """One augmented copy of one graph (``x`` and ``edge_index`` only)."""
        graph = Data(x=graph.x, edge_index=graph.edge_index, num_nodes=graph.num_nodes)
        if name == "drop_nodes":
            return drop_nodes(graph, self.aug_ratio)
        if name == "subgraph":
            return random_walk_subgraph(graph, 1.0 - self.aug_ratio)
        if name == "mask_features":
            x = mask_features(graph.x, self.aug_ratio, mode="row")
            return Data(x=x, edge_index=graph.edge_index)
        if name == "drop_edges":
            return Data(x=graph.x, edge_index=drop_edges(graph.edge_index, self.aug_ratio))
        return graph

    def readout(self, batch: Batch) -> Tensor:
        """Concatenated sum-pooled node embeddings of every GIN layer, ``(B, L * hidden)``."""
        outs = self.encoder.layer_outputs(batch.x, batch.edge_index)
        return torch.cat([global_add_pool(h, batch.batch, size=batch.num_graphs) for h in outs], 1)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        graphs = self.graphs(batch)
        if graphs.num_graphs < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 graphs per batch (the other graphs are "
                f"the negatives), got {graphs.num_graphs}."
            )
        items = graphs.to_data_list()
        views = [
            Batch.from_data_list([self.augment(g, name) for g in items])
            for name in self.augmentations
        ]
        z1, z2 = (self.projector(self.readout(v)) for v in views)
        loss = info_nce(z1, z2, self.temperature, decoupled=True)
        return {"loss": loss}

    def representations(self, batch: Any) -> Tensor:
        """Readout of the unaugmented training graphs, detached."""
        return self.readout(self.graphs(batch)).detach()

    def embed(self, batch: Any) -> Tensor:
        """Graph embeddings ``(B, num_layers * hidden_channels)`` of the unaugmented graphs."""
        return self.readout(self.graphs(batch))

    def export_encoder(self) -> GINEncoder:
        """The GIN (component ``graph:gin``); :meth:`embed` sum-pools each of its layers
        (:meth:`~selfsup_graph.encoders.GINEncoder.layer_outputs`) and concatenates them."""
        return self.encoder

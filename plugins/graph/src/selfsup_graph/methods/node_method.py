"""The common part of the node-level methods whose encoder reads ``(x, edge_index)``: GRACE,
BGRL, DGI and MVGRL validate, embed and export the same way and differ only in their loss."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from selfsup.checks import check_probability
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup_graph.augment.views import drop_edges, drop_feature_columns
from selfsup_graph.batch import node_features_and_edges

__all__ = ["NodeEncoderMethod"]


class NodeEncoderMethod(Method):
    """Base of a node-level method with ``self.encoder(x, edge_index) -> (N, d)``.

    A subclass sets ``in_channels`` and ``encoder`` (and, for two corrupted views,
    ``drop_edge`` / ``drop_feature`` pairs) and writes ``training_losses``. :meth:`embed` is
    the encoder on the uncorrupted graph, read as given (self-loops, duplicates, directions:
    see :class:`~selfsup_graph.methods.GRACE`); :meth:`export_encoder` is the encoder itself.
    """

    modality = "graph"
    in_channels: int
    encoder: nn.Module
    drop_edge: tuple[float, float]
    drop_feature: tuple[float, float]

    def graph(self, batch: Any) -> tuple[Tensor, Tensor]:
        """``(x, edge_index)`` of a batch, validated; ``edge_index`` as given."""
        return node_features_and_edges(batch, self.in_channels, type(self).__name__)

    def training_graph(self, batch: Any, why: str) -> tuple[Tensor, Tensor]:
        """:meth:`graph` of a training batch, which needs 2 nodes (``why`` says what for)."""
        x, edge_index = self.graph(batch)
        if x.shape[0] < 2:  # training only: embed works on one node
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 nodes to train ({why}), got {x.shape[0]}."
            )
        return x, edge_index

    def set_views(self, drop_edge: tuple[float, float], drop_feature: tuple[float, float]) -> None:
        """The two views' edge-removal and feature-column masking probabilities, checked."""
        for name, pair in (("drop_edge", drop_edge), ("drop_feature", drop_feature)):
            for k, p in enumerate(pair, start=1):
                check_probability(f"{name}_{k}", p)
        self.drop_edge = (float(drop_edge[0]), float(drop_edge[1]))
        self.drop_feature = (float(drop_feature[0]), float(drop_feature[1]))

    def view(self, x: Tensor, edge_index: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Corrupted view ``k`` (0 or 1): masked feature columns, removed edges."""
        return drop_feature_columns(x, self.drop_feature[k]), drop_edges(
            edge_index, self.drop_edge[k]
        )

    def representations(self, batch: Any) -> Tensor:
        """Node embeddings of the uncorrupted training graph, detached."""
        return self.encoder(*self.graph(batch)).detach()

    def embed(self, batch: Any) -> Tensor:
        """Node embeddings ``(N, d)`` of the uncorrupted graph."""
        return self.encoder(*self.graph(batch))

    def export_encoder(self) -> nn.Module:
        """The encoder :meth:`embed` runs, without heads, predictor or discriminator."""
        return self.encoder

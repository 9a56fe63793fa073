"""Data modules for node-level pre-training on one graph: full batch or ``NeighborLoader``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import torch
from lightning.pytorch import LightningDataModule
from torch_geometric.data import Data, Dataset
from torch_geometric.transforms import OneHotDegree
from torch_geometric.utils import degree

from selfsup_graph.data.sampling import neighbor_loader

__all__ = ["FullGraphLoader", "NodeDataModule", "add_missing_features", "single_graph"]


class FullGraphLoader:
    """A loader that yields one graph once per epoch (full-batch training).

    A plain ``[graph]`` list would be taken by Lightning's ``CombinedLoader`` for a collection of
    loaders (and a ``Data`` is itself iterable), so the graph is wrapped in this leaf object.
    """

    def __init__(self, graph: Data) -> None:
        self.graph = graph

    def __iter__(self) -> Iterator[Data]:
        yield self.graph

    def __len__(self) -> int:
        return 1

    # Every pass yields the same graph, so there is no position to keep: a run resumed
    # mid-epoch (``SSLModule(exact_resume=True)``) continues with the very next pass.
    def state_dict(self) -> dict[str, int]:
        return {}

    def load_state_dict(self, state: dict[str, int]) -> None:
        del state


def add_missing_features(
    data: Data,
    how: Literal["error", "one_hot_degree", "constant"] = "error",
    max_degree: int | None = None,
) -> Data:
    """Return ``data`` unchanged if it has node features, else add them or refuse.

    GraphMAE reconstructs node features, so a graph without ``x`` cannot be trained as is.
    ``"one_hot_degree"`` adds one-hot (in-)degrees capped at ``max_degree`` (default: the
    largest degree; GraphMAE caps social graphs at 400), as GraphMAE does for IMDB/COLLAB/REDDIT;
    ``"constant"`` adds a single all-ones column (weak: every node looks the same).

    Raises:
        ValueError: If ``data.x`` is None and ``how="error"``, or ``how`` is unknown.
    """
    if data.x is not None:
        return data
    if how == "error":
        raise ValueError(
            "the graph has no node features (data.x is None) and masked-feature pre-training "
            "reconstructs them; pass missing_features='one_hot_degree' (GraphMAE's choice for "
            "featureless graphs) or add features yourself."
        )
    out = data.clone()
    if how == "one_hot_degree":
        if max_degree is None:
            n = int(out.num_nodes)
            deg = degree(out.edge_index[1], n, dtype=torch.long) if n else torch.zeros(0)
            max_degree = int(deg.max()) if deg.numel() else 0
        return OneHotDegree(int(max_degree), cat=False)(out)
    if how == "constant":
        out.x = torch.ones(int(out.num_nodes), 1)
        return out
    raise ValueError(f"how must be 'error', 'one_hot_degree' or 'constant', got {how!r}.")


def single_graph(data: Data | Dataset | Sequence[Data]) -> Data:
    """The one graph of a ``Data`` or a one-graph dataset (``Planetoid``, ``Amazon``, ...).

    Raises:
        ValueError: For a dataset of several graphs (use ``GraphDataModule``) or another type.
    """
    if isinstance(data, Data):
        return data
    if isinstance(data, Dataset | Sequence):
        if len(data) != 1:
            raise ValueError(
                f"node-level pre-training needs one graph, got a dataset of {len(data)} graphs; "
                "use selfsup_graph.data.GraphDataModule for graph-level pre-training."
            )
        return data[0]
    raise ValueError(
        f"expected a torch_geometric Data or a one-graph Dataset, got {type(data).__name__}."
    )


class NodeDataModule(LightningDataModule):
    """One graph for node-level self-supervised pre-training (any PyG ``Data``/dataset).

    Training batches are the whole graph once per epoch (``batch_size=None``, GraphMAE's
    full-batch setting), or neighbour-sampled subgraphs for large graphs
    (:func:`~selfsup_graph.data.sampling.neighbor_loader`: PyG's ``NeighborLoader``, or a
    pure-PyTorch fallback when neither ``pyg-lib`` nor ``torch-sparse`` is installed):
    ``batch_size`` seed nodes per batch with ``num_neighbors[i]`` sampled neighbours at hop
    ``i`` (seed nodes come first in each subgraph; ``batch.batch_size`` says how many).
    Labels and split masks (``y``, ``train_mask``, ``val_mask``, ``test_mask``) are used only
    by the probes (:meth:`probe_graph`, :class:`~selfsup_graph.evaluation.NodeProbeMonitor`).

    Args:
        data: A ``Data`` or a dataset holding one graph.
        batch_size: None (full graph, default) or seed nodes per ``NeighborLoader`` batch.
        num_neighbors: Neighbours sampled per hop for mini-batches (default ``[10, 10]``).
        shuffle: Shuffle seed nodes each epoch (default True).
        num_workers: Loader workers for mini-batches (default 0).
        missing_features: What to do with a graph without ``x`` (see
            :func:`add_missing_features`; default ``"error"``).
        max_degree: Cap of ``"one_hot_degree"`` features (default: the largest degree).

    Raises:
        ValueError: On several graphs, a graph without features (``missing_features="error"``),
            or a non-positive ``batch_size``.
    """

    def __init__(
        self,
        data: Any = None,
        batch_size: int | None = None,
        num_neighbors: list[int] | None = None,
        shuffle: bool = True,
        num_workers: int = 0,
        missing_features: Literal["error", "one_hot_degree", "constant"] = "error",
        max_degree: int | None = None,
    ) -> None:
        super().__init__()
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be None (full graph) or >= 1, got {batch_size}.")
        self.batch_size = batch_size
        self.num_neighbors = list(num_neighbors) if num_neighbors is not None else [10, 10]
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.missing_features = missing_features
        self.max_degree = max_degree
        self._source = data
        self._graph: Data | None = None

    def load(self) -> Data | Dataset | Sequence[Data]:
        """The raw input (subclasses load it from disk)."""
        if self._source is None:
            raise ValueError(f"{type(self).__name__} needs data=a PyG Data or one-graph dataset.")
        return self._source

    @property
    def graph(self) -> Data:
        """The graph, loaded and checked on first access."""
        if self._graph is None:
            graph = single_graph(self.load())
            self._graph = add_missing_features(graph, self.missing_features, self.max_degree)
        return self._graph

    @property
    def num_features(self) -> int:
        """Node feature width (``in_channels`` of the method)."""
        return int(self.graph.x.shape[1])

    def setup(self, stage: str | None = None) -> None:
        self.graph  # noqa: B018 (load and validate early)

    def train_dataloader(self) -> Any:
        graph = self.graph
        if self.batch_size is None:
            return FullGraphLoader(graph)
        return neighbor_loader(
            graph,
            self.num_neighbors,
            self.batch_size,
            shuffle=self.shuffle,
            num_workers=self.num_workers,
        )

    def probe_graph(self) -> Data:
        """The full graph with ``y`` and the ``train_mask``/``val_mask``/``test_mask`` split.

        Raises:
            ValueError: If labels or split masks are missing.
        """
        graph = self.graph
        missing = [k for k in ("y", "train_mask", "val_mask", "test_mask") if k not in graph]
        if missing:
            raise ValueError(
                f"the graph has no {', '.join(missing)}; node probes need labels and a "
                "train/val/test split (e.g. torch_geometric.transforms.RandomNodeSplit)."
            )
        return graph

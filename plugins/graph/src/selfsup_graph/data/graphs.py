"""Data module for graph-level pre-training on many small graphs (PyG ``DataLoader``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader as TorchDataLoader
from torch_geometric.data import Batch, Data, Dataset
from torch_geometric.loader import DataLoader

from selfsup.data.embedding import EmbeddingBatch
from selfsup_graph.batch import nonfinite_features
from selfsup_graph.data.node import add_missing_features, check_missing_features

__all__ = ["GraphDataModule"]


def _check_graph(graph: Data, index: int, owner: str) -> None:
    """Refuse a graph without nodes or with NaN/inf features, naming it by its index."""
    if not graph.num_nodes:
        raise ValueError(
            f"{owner}: graph {index} has no nodes, so it has no embedding; remove it from the "
            "dataset."
        )
    problem = nonfinite_features(graph.x) if isinstance(graph.x, Tensor) else None
    if problem is not None:
        raise ValueError(
            f"{owner}: the node features (x) of graph {index} have {problem}; message passing "
            "and pooling would spread them to its embedding. Fill or drop the missing values "
            "first."
        )


class _WithLabels:
    """Iterate a PyG loader as ``(batch, batch.y)`` pairs (the probe-loader format of core)."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[tuple[Batch, Tensor]]:
        for batch in self.loader:
            yield batch, batch.y.reshape(-1)

    def __len__(self) -> int:
        return len(self.loader)


class _GraphsWithIds:
    """Collate graph indices into ``EmbeddingBatch(ids, Batch)`` (a class: workers pickle it)."""

    def __init__(self, graphs: list[Data], ids: Tensor | Sequence[str]) -> None:
        self.graphs = graphs
        self.ids = ids

    def __call__(self, indices: list[int]) -> EmbeddingBatch:
        batch = Batch.from_data_list([self.graphs[i] for i in indices])
        if isinstance(self.ids, Tensor):
            return EmbeddingBatch(self.ids[torch.tensor(indices, dtype=torch.long)], batch)
        return EmbeddingBatch([self.ids[i] for i in indices], batch)


class GraphDataModule(LightningDataModule):
    """Many graphs (a PyG dataset such as ``TUDataset``, or a list of ``Data``) in mini-batches.

    Each training batch is a ``torch_geometric.data.Batch`` of ``batch_size`` graphs merged into
    one graph with disjoint components (``batch.batch`` maps nodes to graphs), as GraphMAE's
    graph-classification script does; the method masks nodes over the whole batch and pools
    per graph for ``embed``. ``probe_dataloaders()`` gives ``(batch, y)`` pairs of a fixed
    train/test split for :class:`selfsup.metrics.ProbeMonitor`. ``predict_dataloader()``
    (``selfsup embed``) gives every graph once, in dataset order, as
    ``EmbeddingBatch(ids, Batch)`` with ids from :meth:`graph_ids` (the graph's index).

    Args:
        dataset: The graphs (each with ``x``, ``edge_index`` and, for probes, a graph label ``y``).
        batch_size: Graphs per batch (default 32, GraphMAE's IMDB/PROTEINS setting).
        shuffle: Shuffle training graphs (default True).
        num_workers: Loader workers (default 0).
        probe_train_fraction: Share of graphs in the probe's train split (default 0.8).
        seed: Seed of the probe split (default 0).
        missing_features: ``"error"`` (default), ``"one_hot_degree"`` or ``"constant"`` for
            graphs without ``x`` (see :func:`~selfsup_graph.data.add_missing_features`).
        max_degree: Cap of one-hot degrees: the features have ``min(largest in-degree,
            max_degree) + 1`` columns and larger degrees count as the cap, as GraphMAE's
            ``MAX_DEGREES = 400`` for social graphs (default None: no cap).

    Raises:
        ValueError: On an empty dataset, a graph without nodes or with NaN/inf node features
            (naming the graph and node), a bad ``batch_size`` or ``missing_features``, or
            featureless graphs with ``missing_features="error"``.

    Examples:
        >>> from selfsup_graph.data import synthetic_graph_dataset
        >>> data = GraphDataModule(synthetic_graph_dataset(num_graphs=10), batch_size=4)
        >>> [len(b.ids) for b in data.predict_dataloader()]
        [4, 4, 2]
    """

    def __init__(
        self,
        dataset: Any = None,
        batch_size: int = 32,
        shuffle: bool = True,
        num_workers: int = 0,
        probe_train_fraction: float = 0.8,
        seed: int = 0,
        missing_features: Literal["error", "one_hot_degree", "constant"] = "error",
        max_degree: int | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        check_missing_features(missing_features)
        if not 0.0 < probe_train_fraction < 1.0:
            raise ValueError(
                f"probe_train_fraction must lie in (0, 1), got {probe_train_fraction}."
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.probe_train_fraction = probe_train_fraction
        self.seed = seed
        self.missing_features = missing_features
        self.max_degree = max_degree
        self._source = dataset
        self._graphs: list[Data] | None = None

    def load(self) -> Dataset | Sequence[Data]:
        """The raw graphs (subclasses may load them from disk)."""
        if self._source is None:
            raise ValueError(f"{type(self).__name__} needs dataset=a PyG dataset or list of Data.")
        return self._source

    @property
    def graphs(self) -> list[Data]:
        """The graphs, with node features ensured."""
        if self._graphs is None:
            source = self.load()
            graphs = [source[i] for i in range(len(source))]
            if not graphs:
                raise ValueError("the graph dataset is empty.")
            if any(g.x is None for g in graphs) and self.missing_features == "one_hot_degree":
                largest = max(
                    int(torch.bincount(g.edge_index[1], minlength=1).max())
                    if g.edge_index.numel()
                    else 0
                    for g in graphs
                )
                cap = largest if self.max_degree is None else min(largest, self.max_degree)
                graphs = [add_missing_features(g, "one_hot_degree", cap) for g in graphs]
            else:
                graphs = [add_missing_features(g, self.missing_features) for g in graphs]
            for i, g in enumerate(graphs):
                _check_graph(g, i, type(self).__name__)
            self._graphs = graphs
        return self._graphs

    @property
    def num_features(self) -> int:
        """Node feature width (``in_channels`` of the method)."""
        return int(self.graphs[0].x.shape[1])

    def setup(self, stage: str | None = None) -> None:
        self.graphs  # noqa: B018 (load and validate early)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.graphs,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            num_workers=self.num_workers,
        )

    def graph_ids(self) -> Tensor | list[str]:
        """The id of every graph, in dataset order: its index ``0..G-1`` (int64)."""
        return torch.arange(len(self.graphs), dtype=torch.long)

    def predict_dataloader(self) -> TorchDataLoader:
        """Every graph once, in order, as ``EmbeddingBatch(ids, Batch of batch_size graphs)``."""
        graphs = self.graphs
        return TorchDataLoader(
            range(len(graphs)),  # type: ignore[arg-type]
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=_GraphsWithIds(graphs, self.graph_ids()),
        )

    def probe_split(self) -> tuple[list[Data], list[Data]]:
        """A fixed random ``(train, test)`` split of the graphs for probes."""
        graphs = self.graphs
        perm = torch.randperm(len(graphs), generator=torch.Generator().manual_seed(self.seed))
        cut = max(1, min(len(graphs) - 1, round(self.probe_train_fraction * len(graphs))))
        return [graphs[i] for i in perm[:cut]], [graphs[i] for i in perm[cut:]]

    def probe_dataloaders(self) -> tuple[_WithLabels, _WithLabels]:
        """``(train, test)`` loaders of ``(Batch, y)`` pairs (graph labels)."""
        train, test = self.probe_split()
        return (
            _WithLabels(DataLoader(train, batch_size=self.batch_size)),
            _WithLabels(DataLoader(test, batch_size=self.batch_size)),
        )

"""Data modules for node-level pre-training on one graph: full batch or ``NeighborLoader``.

``predict_dataloader()`` (``selfsup embed``) yields :class:`~selfsup.data.EmbeddingBatch` es:
the whole graph once with every node's id (full batch), or the seed nodes of neighbour-sampled
subgraphs in node order (mini-batch), so ``method.embed(batch.inputs)`` has one row per id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader
from torch_geometric.data import Data, Dataset
from torch_geometric.utils import degree

from selfsup.data.embedding import EmbeddingBatch
from selfsup_graph.batch import nonfinite_features
from selfsup_graph.data.sampling import neighbor_loader

__all__ = [
    "MISSING_FEATURES",
    "FullGraphLoader",
    "NodeDataModule",
    "SeedNodeCollate",
    "add_missing_features",
    "check_missing_features",
    "one_hot_degree",
    "single_graph",
]


#: The choices of ``missing_features`` (see :func:`add_missing_features`).
MISSING_FEATURES: tuple[str, ...] = ("error", "one_hot_degree", "constant")


def check_missing_features(how: str) -> None:
    """Refuse an unknown ``missing_features`` choice at construction (it is otherwise only read
    when a graph has no features, so a typo would go unnoticed until then)."""
    if how not in MISSING_FEATURES:
        raise ValueError(f"missing_features must be one of {MISSING_FEATURES}, got {how!r}.")


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


def _only(items: list[Any]) -> Any:
    """Collate of a one-item loader: the item itself."""
    return items[0]


class SeedNodeCollate:
    """Collate seed-node indices into ``EmbeddingBatch(ids of the seeds, sampled subgraph)``.

    The collate function of the mini-batch ``predict_dataloader`` (a plain ``DataLoader`` over
    node numbers, so Lightning tracks its batches): ``node_loader(indices)`` samples the
    subgraph (PyG's ``NodeLoader.__call__``: seeds first, ``batch.batch_size`` seeds) and the
    seeds' ids come along, the rows a node method's ``embed`` returns for it.

    Args:
        node_loader: A ``NeighborLoader``/``NodeLoader`` over all nodes of the graph.
        ids: Id of every node: an int64 tensor ``(N,)`` or ``N`` strings.

    Examples:
        >>> from selfsup_graph.data import neighbor_loader, synthetic_node_graph
        >>> graph = synthetic_node_graph(num_nodes=10)
        >>> collate = SeedNodeCollate(neighbor_loader(graph, [-1], 4), torch.arange(10))
        >>> batch = collate([7, 2])
        >>> batch.ids.tolist(), batch.inputs.batch_size
        ([7, 2], 2)
    """

    def __init__(self, node_loader: Any, ids: Tensor | Sequence[str]) -> None:
        self.node_loader = node_loader
        self.ids = ids

    def __call__(self, indices: list[int]) -> EmbeddingBatch:
        batch = self.node_loader(indices)
        seeds = batch.n_id[: batch.batch_size]
        if isinstance(self.ids, Tensor):
            return EmbeddingBatch(self.ids[seeds], batch)
        return EmbeddingBatch([self.ids[i] for i in seeds.tolist()], batch)


def one_hot_degree(edge_index: Tensor, num_nodes: int, max_degree: int) -> Tensor:
    """One-hot in-degrees ``(num_nodes, max_degree + 1)``; larger degrees count as ``max_degree``.

    GraphMAE's node features for graphs without any (``load_graph_classification_dataset``:
    in-degrees, ``degrees[degrees > MAX_DEGREES] = MAX_DEGREES``, ``MAX_DEGREES = 400``).

    Examples:
        >>> one_hot_degree(torch.tensor([[0, 1, 2], [1, 2, 1]]), 3, max_degree=1)
        tensor([[1., 0.],
                [0., 1.],
                [0., 1.]])
    """
    deg = degree(edge_index[1], num_nodes, dtype=torch.long).clamp(max=int(max_degree))
    return torch.nn.functional.one_hot(deg, int(max_degree) + 1).float()


def add_missing_features(
    data: Data,
    how: Literal["error", "one_hot_degree", "constant"] = "error",
    max_degree: int | None = None,
) -> Data:
    """Return ``data`` unchanged if it has node features, else add them or refuse.

    GraphMAE reconstructs node features, so a graph without ``x`` cannot be trained as is.
    ``"one_hot_degree"`` adds one-hot in-degrees of width ``max_degree + 1`` (default: the
    largest in-degree), larger degrees counting as ``max_degree`` (:func:`one_hot_degree`), as
    GraphMAE does for IMDB/COLLAB/REDDIT; ``"constant"`` adds a single all-ones column (weak:
    every node looks the same).

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
        n = int(out.num_nodes)
        if max_degree is None:
            deg = degree(out.edge_index[1], n, dtype=torch.long) if n else torch.zeros(0)
            max_degree = int(deg.max()) if deg.numel() else 0
        out.x = one_hot_degree(out.edge_index, n, max_degree)
        return out
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

    ``predict_dataloader()`` (``selfsup embed``) gives every node once, with ids from
    :meth:`node_ids` (node numbers ``0..N-1`` here; names for data modules that read them).
    Full batch: one :class:`~selfsup.data.EmbeddingBatch` whose inputs is the whole graph.
    Mini-batch: batches of ``batch_size`` seed nodes in node order, each with its
    ``predict_num_neighbors``-sampled neighbourhood; the default takes *all* neighbours for
    ``len(num_neighbors)`` hops, which is deterministic and gives the seeds the embeddings of
    the full graph when the hops cover the encoder's layers (GAT and GIN; GCN's degree
    normalisation needs one hop more). A fan-out (``[25, 10]``) bounds the memory of very
    large graphs at the price of sampled, varying embeddings.

    Args:
        data: A ``Data`` or a dataset holding one graph.
        batch_size: None (full graph, default) or seed nodes per ``NeighborLoader`` batch.
        num_neighbors: Neighbours sampled per hop for mini-batches (default ``[10, 10]``).
        shuffle: Shuffle seed nodes each epoch (default True).
        num_workers: Loader workers for mini-batches (default 0).
        missing_features: What to do with a graph without ``x`` (see
            :func:`add_missing_features`; default ``"error"``).
        max_degree: Cap of ``"one_hot_degree"`` features (default: the largest degree).
        predict_num_neighbors: Neighbours per hop for the mini-batch ``predict_dataloader``
            (default: ``-1``, all, for each of ``len(num_neighbors)`` hops).

    Raises:
        ValueError: On several graphs, a graph without features (``missing_features="error"``),
            NaN/inf node features (naming the nodes), an unknown ``missing_features``, or a
            non-positive ``batch_size``.

    Examples:
        >>> from selfsup_graph.data import synthetic_node_graph
        >>> data = NodeDataModule(synthetic_node_graph(num_nodes=30))
        >>> (batch,) = data.predict_dataloader()
        >>> batch.ids.shape, batch.inputs.num_nodes
        (torch.Size([30]), 30)
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
        predict_num_neighbors: list[int] | None = None,
    ) -> None:
        super().__init__()
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be None (full graph) or >= 1, got {batch_size}.")
        check_missing_features(missing_features)
        self.batch_size = batch_size
        self.num_neighbors = list(num_neighbors) if num_neighbors is not None else [10, 10]
        self.predict_num_neighbors = (
            list(predict_num_neighbors)
            if predict_num_neighbors is not None
            else [-1] * len(self.num_neighbors)
        )
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
        """The graph, loaded and checked on first access.

        Raises:
            ValueError: See the class docstring; also NaN/inf node features (naming the nodes).
        """
        if self._graph is None:
            graph = single_graph(self.load())
            graph = add_missing_features(graph, self.missing_features, self.max_degree)
            problem = nonfinite_features(graph.x) if isinstance(graph.x, Tensor) else None
            if problem is not None:
                raise ValueError(
                    f"{type(self).__name__}: the graph's node features (x) have {problem}; "
                    "message passing would spread them to the neighbours' embeddings. Fill or "
                    "drop the missing values (or the nodes) first."
                )
            self._graph = graph
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

    def node_ids(self) -> Tensor | list[str]:
        """The id of every node, in node order: ``arange(N)`` (int64) here; data modules that
        read node names from files return the names."""
        return torch.arange(int(self.graph.num_nodes), dtype=torch.long)

    def predict_dataloader(self) -> DataLoader:
        """Every node once as :class:`~selfsup.data.EmbeddingBatch` es (see the class docstring)."""
        graph, ids = self.graph, self.node_ids()
        if self.batch_size is None:
            return DataLoader([EmbeddingBatch(ids, graph)], batch_size=1, collate_fn=_only)
        sampler = neighbor_loader(graph, self.predict_num_neighbors, self.batch_size)
        return DataLoader(
            range(int(graph.num_nodes)),  # type: ignore[arg-type]
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=SeedNodeCollate(sampler, ids),
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

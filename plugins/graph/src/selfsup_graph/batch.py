"""The graph batch contract: validation of node-level batches and GraphMAE's pre-processed
:class:`GraphInput`, shared by the graph methods."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from selfsup.experiment.method import MalformedBatchError
from selfsup_graph.encoders.edges import edges_for, shared_csr
from selfsup_graph.encoders.sparse_attention import CSRGraph

__all__ = ["GraphInput", "graph_input", "node_features_and_edges", "nonfinite_features"]


class GraphInput(NamedTuple):
    """A validated, pre-processed batch (see :func:`graph_input`).

    Attributes:
        x: Node features ``(N, F)``.
        edge_index: ``(2, E)`` without self-loops (the convolutions add one per node),
            symmetrised unless built with ``undirected=False``.
        batch: Graph id of every node ``(N,)`` (zeros for a single graph).
        num_graphs: Number of graphs in the batch.
        seed_nodes: For neighbour-sampled batches (``NeighborLoader``), the number of seed
            nodes (the first rows); None otherwise.
        csr: ``edge_index`` sorted for the modules that read CSR (fused GAT layers, with one
            self-loop per node), built once per batch; None when no module reads it.
    """

    x: Tensor
    edge_index: Tensor
    batch: Tensor
    num_graphs: int
    seed_nodes: int | None
    csr: CSRGraph | None = None

    def edges_for(self, module: nn.Module) -> Tensor | CSRGraph:
        """The edges in ``module``'s format (:func:`selfsup_graph.encoders.edges.edges_for`)."""
        return edges_for(module, self.edge_index, self.csr)


def graph_input(
    batch: Any,
    in_channels: int,
    owner: str,
    *,
    undirected: bool = True,
    edge_readers: tuple[nn.Module, ...] = (),
    no_features_hint: str = "",
) -> GraphInput:
    """Validate a batch (:func:`node_features_and_edges`) and pre-process it.

    Self-loops are removed (the convolutions add exactly one per node), directed edges are
    symmetrised (unless ``undirected=False``) and duplicates merged. Isolated nodes are fine:
    their self-loop carries their own features.

    Args:
        batch: One ``Data`` graph, a ``Batch`` of graphs, or a ``NeighborLoader`` subgraph
            (seed nodes first, ``batch.batch_size`` of them).
        in_channels: Expected node-feature width ``F``.
        owner: The method's name, used in error messages.
        undirected: Symmetrise ``edge_index`` (default True).
        edge_readers: The modules that will read the edges; the CSR form is built once when
            one of them reads it (:func:`selfsup_graph.encoders.edges.shared_csr`).
        no_features_hint: Appended to the error for a graph without ``data.x``.

    Raises:
        MalformedBatchError: As :func:`node_features_and_edges`.

    Examples:
        >>> from torch_geometric.data import Data
        >>> data = Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1, 1], [1, 2, 1]]))
        >>> g = graph_input(data, 2, "Example")
        >>> g.edge_index.tolist(), g.num_graphs, g.seed_nodes, g.csr
        ([[0, 1, 1, 2], [1, 0, 2, 1]], 1, None, None)
    """
    x, edge_index = node_features_and_edges(
        batch, in_channels, owner, no_features_hint=no_features_hint
    )
    n = x.shape[0]
    edge_index, _ = remove_self_loops(edge_index)
    if undirected:
        edge_index = to_undirected(edge_index, num_nodes=n)  # also merges duplicates
    else:
        edge_index = coalesce(edge_index, num_nodes=n)
    graph_batch = getattr(batch, "batch", None)
    if isinstance(graph_batch, Tensor) and graph_batch.shape == (n,):
        num_graphs = int(getattr(batch, "num_graphs", 0) or int(graph_batch.max()) + 1)
    else:
        graph_batch = torch.zeros(n, dtype=torch.long, device=x.device)
        num_graphs = 1
    seeds = getattr(batch, "batch_size", None)
    seeds = int(seeds) if isinstance(seeds, int) and 0 < seeds <= n else None
    csr = shared_csr(edge_index, n, *edge_readers)
    return GraphInput(x, edge_index, graph_batch, num_graphs, seeds, csr)


def nonfinite_features(x: Tensor, node_ids: Tensor | None = None) -> str | None:
    """None if every node feature is finite, else a description of the NaN/inf entries.

    Args:
        x: Node features ``(N, F)``.
        node_ids: Graph node id of each row (``batch.n_id`` of a neighbour-sampled subgraph),
            named beside the row when given.

    Returns:
        ``"1 non-finite value in 1 node (node 3, column 1 is nan)"`` or, for several nodes,
        ``"32 non-finite values in 8 nodes (nodes [0, 1, 2, 3, 4, ...]; the first, node 0,
        column 0, is nan)"``; indices count from 0.

    Examples:
        >>> nonfinite_features(torch.tensor([[1.0, 2.0], [3.0, float("nan")]]))
        '1 non-finite value in 1 node (node 1, column 1 is nan)'
        >>> nonfinite_features(torch.ones(2, 2)) is None
        True
    """
    if not x.is_floating_point():
        return None
    bad = ~torch.isfinite(x)
    if not bool(bad.any()):
        return None
    rows = bad.any(dim=1).nonzero().flatten().tolist()
    count = int(bad.sum())
    first = rows[0]
    column = int(bad[first].nonzero()[0])
    where = f"node {first}"
    if isinstance(node_ids, Tensor) and node_ids.shape[:1] == x.shape[:1]:
        where += f" of the batch = graph node {int(node_ids[first])}"
    value = float(x[first, column])
    head = (
        f"{count} non-finite value{'s' if count > 1 else ''} in {len(rows)} "
        f"node{'s' if len(rows) > 1 else ''}"
    )
    if len(rows) == 1:
        return f"{head} ({where}, column {column} is {value})"
    shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
    return f"{head} (nodes [{shown}]; the first, {where}, column {column}, is {value})"


def node_features_and_edges(
    batch: Any, in_channels: int, owner: str, *, no_features_hint: str = ""
) -> tuple[Tensor, Tensor]:
    """``(x, edge_index)`` of a PyG ``Data``/``Batch``, checked for what every method needs.

    Args:
        batch: The batch handed to the method.
        in_channels: Expected node-feature width ``F``.
        owner: The method's name, used in error messages.
        no_features_hint: Appended to the error for a graph without ``data.x``.

    Shapes:
        x: ``(N, F)`` float, ``N >= 1``, every value finite; edge_index: ``(2, E)`` int64 with
        ids in ``[0, N)``.

    Raises:
        MalformedBatchError: wrong type, missing or mis-shaped features, non-float features, a
            graph without nodes, NaN/inf features (naming the nodes), a mis-shaped or
            non-int64 ``edge_index``, or node ids out of range.
    """
    if not isinstance(batch, Data):
        raise MalformedBatchError(
            f"{owner} expects a torch_geometric.data.Data (or Batch) with x and edge_index, "
            f"got {type(batch).__name__}; wrap tensors as Data(x=x, edge_index=edge_index)."
        )
    x, edge_index = batch.x, batch.edge_index
    if x is None:
        raise MalformedBatchError(
            f"{owner}: the graph has no node features (data.x is None); it expects data.x of "
            f"shape (N, {in_channels}).{no_features_hint}"
        )
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != in_channels:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise MalformedBatchError(
            f"{owner} expects node features data.x of shape (N, {in_channels}), got {got}; set "
            "in_channels to the feature size."
        )
    if not x.is_floating_point():
        raise MalformedBatchError(
            f"{owner} expects floating-point node features, got {x.dtype}; use data.x.float()."
        )
    n = x.shape[0]
    if n == 0:
        raise MalformedBatchError(
            f"{owner}: the graph has no nodes (data.x has 0 rows), so there is nothing to train "
            "on or embed; drop empty graphs from the data."
        )
    problem = nonfinite_features(x, getattr(batch, "n_id", None))
    if problem is not None:
        # message passing would carry a NaN into every neighbour's embedding without an error
        raise MalformedBatchError(
            f"{owner}: data.x has {problem}. A NaN or inf feature spreads to the embeddings of "
            "the node's neighbours through message passing; fill or drop the missing values "
            "(or the nodes) before training or embedding."
        )
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        got = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else None
        raise MalformedBatchError(
            f"{owner} expects data.edge_index of shape (2, E), got {got}; transpose an (E, 2) "
            "edge list with .t().contiguous()."
        )
    if edge_index.dtype != torch.long:
        raise MalformedBatchError(
            f"{owner} expects data.edge_index of dtype int64, got {edge_index.dtype}."
        )
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise MalformedBatchError(
            f"{owner}: data.edge_index has node ids in [{int(edge_index.min())}, "
            f"{int(edge_index.max())}] but the graph has {n} nodes (ids 0..{n - 1})."
        )
    return x, edge_index

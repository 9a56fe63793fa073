"""Stochastic graph views: feature masking, edge dropping, node dropping, subgraph sampling.

GRACE's corruptions (:func:`drop_edges`, :func:`drop_feature_columns`) and GraphCL's
augmentations (You et al., arXiv 2010.13902: :func:`drop_nodes`, :func:`random_walk_subgraph`,
:func:`mask_features`), built on ``torch_geometric.utils`` (``dropout_edge``, ``mask_feature``,
``k_hop_subgraph``, ``Data.subgraph``). Randomness comes from torch's global RNG.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import dropout_edge, k_hop_subgraph, mask_feature

from selfsup.checks import check_probability

__all__ = [
    "drop_edges",
    "drop_feature_columns",
    "drop_nodes",
    "k_hop_view",
    "mask_features",
    "random_walk_subgraph",
]


def drop_edges(edge_index: Tensor, p: float) -> Tensor:
    """Remove each (directed) edge independently with probability ``p``.

    Thin wrapper of ``torch_geometric.utils.dropout_edge`` (always active, not only in
    training mode), as GRACE's removing-edges corruption (Zhu et al., arXiv 2006.04131, §3.2).

    Shapes:
        edge_index: ``(2, E)`` -> ``(2, E')`` with ``E' <= E``, a subset of the columns in order.
    """
    check_probability("p", p)
    return dropout_edge(edge_index, p=p, training=True)[0]


def drop_feature_columns(x: Tensor, p: float) -> Tensor:
    """Zero whole feature columns, each with probability ``p`` (the same columns for all nodes).

    GRACE's masking-node-features corruption: ``x * m`` with ``m_j ~ Bernoulli(1 - p)`` per
    feature ``j``. Returns a new tensor; ``x`` is not modified.

    Shapes:
        x: ``(N, F)`` -> ``(N, F)``.
    """
    check_probability("p", p)
    keep = torch.rand(x.shape[1], device=x.device) >= p
    return x * keep.to(x.dtype)


def mask_features(
    x: Tensor,
    p: float,
    mode: Literal["col", "row", "all"] = "col",
    fill_value: float = 0.0,
) -> Tensor:
    """Mask node features with probability ``p`` (``torch_geometric.utils.mask_feature``).

    ``mode="col"``: whole feature columns (the same for every node; GRACE/GraphCL attribute
    masking); ``"row"``: whole nodes; ``"all"``: single entries. Masked entries become
    ``fill_value`` (a constant; :mod:`selfsup.masking`'s node masks give a learnable token).
    Always active (not only in training mode); ``x`` is not modified.

    Shapes:
        x: ``(N, F)`` -> ``(N, F)``.

    Raises:
        ValueError: If ``p`` is outside ``[0, 1)`` or ``mode`` is unknown.
    """
    check_probability("p", p)
    if mode not in ("col", "row", "all"):
        raise ValueError(f"mode must be 'col', 'row' or 'all', got {mode!r}.")
    return mask_feature(x, p=p, mode=mode, fill_value=fill_value, training=True)[0]


def drop_nodes(data: Data, p: float) -> Data:
    """Remove each node with probability ``p`` together with its edges (GraphCL node dropping).

    Returns ``data.subgraph(kept)``: node-level attributes (``x``, ``y``, masks, ...) are sliced
    and edges relabelled to ``0..n'-1``. At least one node is always kept.

    Shapes:
        data.x: ``(N, F)`` -> ``(N', F)`` with ``1 <= N' <= N``.

    Raises:
        ValueError: If ``p`` is outside ``[0, 1)`` or the graph is empty.
    """
    check_probability("p", p)
    n = _num_nodes(data)
    keep = torch.rand(n, device=data.edge_index.device) >= p
    if not bool(keep.any()):
        keep[torch.randint(n, (1,), device=keep.device)] = True
    return data.subgraph(keep)


def k_hop_view(data: Data, num_hops: int, node_idx: int | Tensor | None = None) -> Data:
    """The ``num_hops``-hop neighbourhood of ``node_idx`` (a random node by default).

    Uses ``torch_geometric.utils.k_hop_subgraph`` (incoming edges, ``flow="source_to_target"``)
    and returns ``data.subgraph(nodes)`` (attributes sliced, ids relabelled in increasing order).

    Raises:
        ValueError: If ``num_hops < 0`` or the graph is empty.
    """
    if num_hops < 0:
        raise ValueError(f"num_hops must be >= 0, got {num_hops}.")
    n = _num_nodes(data)
    if node_idx is None:
        node_idx = int(torch.randint(n, (1,)))
    nodes, _, _, _ = k_hop_subgraph(node_idx, num_hops, data.edge_index, num_nodes=n)
    return data.subgraph(nodes)


def random_walk_subgraph(data: Data, ratio: float = 0.2, max_steps: int | None = None) -> Data:
    """GraphCL's subgraph augmentation: grow a connected node set by a random neighbour walk.

    Starting from a random node, repeatedly add a random not-yet-chosen neighbour of the current
    set (GraphCL's ``subgraph``), until ``ceil(ratio * N)`` nodes are chosen or the component is
    exhausted (then the walk restarts from a random unchosen node). Returns
    ``data.subgraph(chosen)``. Neighbourhoods follow ``edge_index`` as given (symmetrise it for
    undirected behaviour). Runs on the host; meant for small graphs and collate functions.

    Raises:
        ValueError: If ``ratio`` is not in ``(0, 1]`` or the graph is empty.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio}.")
    n = _num_nodes(data)
    target = max(1, math.ceil(ratio * n))
    src, dst = data.edge_index.cpu()
    order = torch.argsort(src)
    ptr = torch.zeros(n + 1, dtype=torch.long)
    ptr[1:] = torch.cumsum(torch.bincount(src, minlength=n), 0)
    neighbours = dst[order].tolist()
    ptr_list = ptr.tolist()
    chosen = torch.zeros(n, dtype=torch.bool)
    frontier: list[int] = []
    steps = 0
    limit = max_steps if max_steps is not None else 100 * n
    while int(chosen.sum()) < target and steps < limit:
        steps += 1
        if not frontier:
            free = (~chosen).nonzero().view(-1)
            start = int(free[torch.randint(free.numel(), (1,))])
            chosen[start] = True
            frontier = [
                v for v in neighbours[ptr_list[start] : ptr_list[start + 1]] if not chosen[v]
            ]
            continue
        v = frontier.pop(int(torch.randint(len(frontier), (1,))))
        if chosen[v]:
            continue
        chosen[v] = True
        frontier.extend(u for u in neighbours[ptr_list[v] : ptr_list[v + 1]] if not chosen[u])
    return data.subgraph(chosen.nonzero().view(-1).to(data.edge_index.device))


def _num_nodes(data: Data) -> int:
    n = int(data.num_nodes or 0)
    if n < 1:
        raise ValueError("the graph has no nodes.")
    return n

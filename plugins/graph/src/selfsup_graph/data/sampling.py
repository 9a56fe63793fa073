"""Neighbour sampling for mini-batch training on large graphs.

:func:`neighbor_loader` returns PyG's ``NeighborLoader`` when PyG has a sampling backend
(``pyg-lib`` or ``torch-sparse``); otherwise a ``NodeLoader`` over
:class:`UniformNeighborSampler`, a pure-PyTorch uniform sampler with the same output format
(seed nodes first, ``batch.batch_size`` seeds, ``batch.n_id``/``batch.e_id`` global ids).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader, NodeLoader
from torch_geometric.sampler import BaseSampler, NodeSamplerInput, SamplerOutput

__all__ = ["UniformNeighborSampler", "has_pyg_sampler_backend", "neighbor_loader"]


def has_pyg_sampler_backend() -> bool:
    """Whether PyG's ``NeighborSampler`` can run (``pyg-lib`` or ``torch-sparse`` installed)."""
    import torch_geometric.typing as pyg_typing

    return bool(
        getattr(pyg_typing, "WITH_PYG_LIB", False)
        or getattr(pyg_typing, "WITH_TORCH_SPARSE", False)
    )


class UniformNeighborSampler(BaseSampler):
    """Uniform ``num_neighbors[i]``-neighbour sampling per hop, without replacement (PyTorch only).

    Hop ``i`` samples, for every node first reached at hop ``i - 1`` (the seeds for ``i = 0``),
    up to ``num_neighbors[i]`` of its incoming edges (all of them for ``-1``), as
    ``NeighborLoader``'s directed sampling does. The subgraph holds the sampled edges only
    (``row -> col`` in local ids); nodes are numbered in order of discovery, seeds first.

    Args:
        data: A homogeneous graph with ``edge_index`` and ``num_nodes``.
        num_neighbors: Fan-out per hop (``-1``: all neighbours).

    Shapes:
        sample_from_nodes(NodeSamplerInput(input_id, node (B,))) -> SamplerOutput.
    """

    def __init__(self, data: Data, num_neighbors: list[int]) -> None:
        super().__init__()
        if not num_neighbors or any(int(k) < -1 or int(k) == 0 for k in num_neighbors):
            raise ValueError(
                f"num_neighbors must be a non-empty list of -1 or >= 1, got {num_neighbors}."
            )
        self.num_neighbors = [int(k) for k in num_neighbors]
        n = int(data.num_nodes)
        src, dst = data.edge_index.cpu()
        order = torch.argsort(dst, stable=True)
        self.num_nodes = n
        self.row = src[order]  # sources of incoming edges, grouped by target
        self.edge_id = order
        self.colptr = torch.zeros(n + 1, dtype=torch.long)
        self.colptr[1:] = torch.cumsum(torch.bincount(dst, minlength=n), 0)

    def _sample_hop(self, frontier: Tensor, fanout: int) -> tuple[Tensor, Tensor]:
        """Sampled incoming edge positions (into ``row``) and their target nodes."""
        start, deg = self.colptr[frontier], self.colptr[frontier + 1] - self.colptr[frontier]
        total = int(deg.sum())
        if total == 0:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty
        owner = torch.repeat_interleave(torch.arange(frontier.numel()), deg, output_size=total)
        offset = torch.arange(total) - torch.repeat_interleave(
            torch.cumsum(deg, 0) - deg, deg, output_size=total
        )
        positions = start[owner] + offset
        if fanout >= 0:
            key = owner.double() + torch.rand(total, dtype=torch.double)  # random order per node
            perm = torch.argsort(key)
            rank = torch.empty(total, dtype=torch.long)
            rank[perm] = offset  # offsets of a sorted segment are 0..deg-1
            keep = rank < fanout
            positions, owner = positions[keep], owner[keep]
        return positions, frontier[owner]

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs: Any) -> SamplerOutput:
        seeds = index.node.to(torch.long)
        local = torch.full((self.num_nodes,), -1, dtype=torch.long)
        local[seeds] = torch.arange(seeds.numel())
        nodes, rows, cols, edges = [seeds], [], [], []
        num_nodes_per_hop, num_edges_per_hop = [seeds.numel()], []
        frontier, count = seeds, seeds.numel()
        for fanout in self.num_neighbors:
            positions, targets = self._sample_hop(frontier, fanout)
            sources = self.row[positions]
            new = torch.unique(sources[local[sources] < 0])
            new = new[torch.randperm(new.numel())] if new.numel() > 1 else new
            local[new] = torch.arange(count, count + new.numel())
            count += new.numel()
            nodes.append(new)
            rows.append(local[sources])
            cols.append(local[targets])
            edges.append(self.edge_id[positions])
            num_nodes_per_hop.append(new.numel())
            num_edges_per_hop.append(positions.numel())
            frontier = new
        return SamplerOutput(
            node=torch.cat(nodes),
            row=torch.cat(rows),
            col=torch.cat(cols),
            edge=torch.cat(edges),
            batch=None,
            num_sampled_nodes=num_nodes_per_hop,
            num_sampled_edges=num_edges_per_hop,
            metadata=(index.input_id, index.time),
        )

    def sample_from_edges(self, index: Any, neg_sampling: Any = None) -> Any:
        raise NotImplementedError("UniformNeighborSampler samples from seed nodes only.")


def neighbor_loader(
    data: Data,
    num_neighbors: list[int],
    batch_size: int,
    *,
    input_nodes: Tensor | None = None,
    shuffle: bool = True,
    num_workers: int = 0,
) -> NeighborLoader | NodeLoader:
    """Mini-batches of ``batch_size`` seed nodes with their sampled ``len(num_neighbors)``-hop
    neighbourhoods: ``NeighborLoader`` when PyG has a sampling backend, else a ``NodeLoader``
    over :class:`UniformNeighborSampler`. Each batch is a ``Data`` with the seeds first and
    ``batch.batch_size`` seeds."""
    if has_pyg_sampler_backend():
        return NeighborLoader(
            data,
            num_neighbors=num_neighbors,
            batch_size=batch_size,
            input_nodes=input_nodes,
            shuffle=shuffle,
            num_workers=num_workers,
        )
    return NodeLoader(
        data,
        node_sampler=UniformNeighborSampler(data, num_neighbors),
        input_nodes=input_nodes,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
    )

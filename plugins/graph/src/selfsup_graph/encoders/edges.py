"""Edge formats: which form of a batch's edges each encoder reads, sorted at most once per batch.

Encoders take ``(x, edges)``. Most read ``edge_index`` ``(2, E)``; a fused
:class:`~selfsup_graph.encoders.GATEncoder` reads a :class:`CSRGraph` (the edges sorted by
target with one self-loop per node; it sorts ``edge_index`` itself when handed one). A method
that runs several such modules on one batch (GraphMAE: encoder, decoder, EMA target) sorts once
with :func:`shared_csr` and hands each module its form with :func:`edges_for`, so the method never
needs to know which encoder reads what: a module says so itself through ``reads_csr``.
"""

from __future__ import annotations

from torch import Tensor, nn

from selfsup_graph.encoders.sparse_attention import CSRGraph, csr_graph

__all__ = ["edges_for", "reads_csr", "shared_csr"]


def reads_csr(module: nn.Module) -> bool:
    """Whether ``module`` reads a :class:`CSRGraph` (its ``reads_csr`` attribute; False if none).

    Examples:
        >>> from selfsup_graph.encoders import GATEncoder, GCNEncoder
        >>> reads_csr(GATEncoder(6, 8, 8, heads=2)), reads_csr(GCNEncoder(6, 8, 8))
        (True, False)
    """
    return bool(getattr(module, "reads_csr", False))


def shared_csr(edge_index: Tensor, num_nodes: int, *modules: nn.Module) -> CSRGraph | None:
    """``edge_index`` sorted once for every module of ``modules`` that reads CSR; None if none.

    Args:
        edge_index: ``(2, E)`` int64 edges ``source -> target`` (self-loops are replaced by one
            per node, as ``GATConv(add_self_loops=True)``).
        num_nodes: ``N``.
        modules: The modules that will read this batch's edges.

    Examples:
        >>> import torch
        >>> from selfsup_graph.encoders import GATEncoder
        >>> edge_index = torch.tensor([[0, 1], [1, 0]])
        >>> shared_csr(edge_index, 2, GATEncoder(6, 8, 8, heads=2)).num_rows
        2
        >>> shared_csr(edge_index, 2, torch.nn.Linear(6, 8)) is None
        True
    """
    if any(reads_csr(m) for m in modules):
        return csr_graph(edge_index, num_nodes)
    return None


def edges_for(module: nn.Module, edge_index: Tensor, csr: CSRGraph | None) -> Tensor | CSRGraph:
    """The edges in ``module``'s format: ``csr`` if it reads CSR and one was built, else
    ``edge_index`` (``(2, E)``).

    Examples:
        >>> import torch
        >>> from selfsup_graph.encoders import GATEncoder
        >>> gat, edge_index = GATEncoder(6, 8, 8, heads=2), torch.tensor([[0, 1], [1, 0]])
        >>> type(edges_for(gat, edge_index, shared_csr(edge_index, 2, gat))).__name__
        'CSRGraph'
        >>> edges_for(torch.nn.Linear(6, 8), edge_index, None) is edge_index
        True
    """
    if csr is not None and reads_csr(module):
        return csr
    return edge_index

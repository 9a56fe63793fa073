"""GRACE's graph corruptions: edge removal and feature-column masking."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import dropout_edge

from selfsup.checks import check_probability

__all__ = ["drop_edges", "drop_feature_columns"]


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

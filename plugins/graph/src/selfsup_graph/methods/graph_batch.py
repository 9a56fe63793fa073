"""Validation of node-level graph batches shared by the graph methods."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from selfsup.experiment.method import MalformedBatchError

__all__ = ["node_features_and_edges"]


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
        x: ``(N, F)`` float; edge_index: ``(2, E)`` int64 with ids in ``[0, N)``.

    Raises:
        MalformedBatchError: wrong type, missing or mis-shaped features, non-float features,
            a mis-shaped or non-int64 ``edge_index``, or node ids out of range.
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

"""Validation of integer class-label vectors shared by the supervised probes."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_labels"]


def check_labels(name: str, labels: Tensor, rows: int, rows_name: str) -> None:
    """Require a 1-D non-negative integer tensor with one entry per row of ``rows_name``."""
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}.")
    if labels.dim() != 1 or labels.shape[0] != rows:
        raise ValueError(
            f"{name} must have shape ({rows},) to match {rows_name}, got {tuple(labels.shape)}; "
            "pass one integer class index per row (not one-hot)."
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"{name} must hold integer class indices, got dtype {labels.dtype}; use labels.long()."
        )
    if rows and int(labels.min()) < 0:
        raise ValueError(
            f"{name} must be >= 0, got minimum {int(labels.min())}; "
            "remap classes to 0..C-1 (ignore/unlabelled markers such as -1 are not supported)."
        )

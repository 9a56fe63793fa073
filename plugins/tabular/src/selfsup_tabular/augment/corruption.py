"""SCARF's corruption: replace a random subset of each row's features by other rows' values."""

from __future__ import annotations

import torch
from torch import Tensor

from selfsup.checks import check_probability

__all__ = ["scarf_corrupt"]


def scarf_corrupt(x: Tensor, corruption_rate: float) -> Tensor:
    """Corrupt ``k = int(corruption_rate * F)`` features of every row (SCARF, arXiv 2106.15147).

    For each row ``i`` a uniformly random subset of ``k`` columns is chosen; each chosen
    entry ``(i, j)`` is replaced by ``x[r, j]`` with ``r`` drawn uniformly from the *other*
    rows of the batch, i.e. a draw from the batch's empirical marginal of feature ``j``.
    Randomness comes from torch's global RNG; ``x`` is not modified.

    Args:
        x: a batch of feature rows.
        corruption_rate: fraction of features replaced per row, in ``[0, 1]``.

    Shapes:
        x: ``(B, F)`` with ``B >= 2`` -> ``(B, F)``.

    Raises:
        ValueError: ``x`` is not 2-D with at least 2 rows, or the rate is outside ``[0, 1]``.
    """
    check_probability("corruption_rate", corruption_rate, inclusive_high=True)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(
            f"x must have shape (B, F) with B >= 2 (values come from other rows), got "
            f"{tuple(x.shape)}."
        )
    b, f = x.shape
    k = int(corruption_rate * f)
    if k == 0:
        return x.clone()
    rank = torch.rand(b, f, device=x.device).argsort(dim=1).argsort(dim=1)
    corrupt = rank < k  # exactly k True per row, a uniformly random subset
    shift = torch.randint(1, b, (b, f), device=x.device)
    donor = (torch.arange(b, device=x.device)[:, None] + shift) % b  # never the row itself
    return torch.where(corrupt, x.gather(0, donor), x)

"""SCARF's corruption: replace a random subset of each row's features by other rows' values."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from selfsup.checks import check_probability

__all__ = ["corruption_mask", "scarf_corrupt", "scarf_corrupt_columns"]


def corruption_mask(rows: int, features: int, rate: float, device: torch.device) -> Tensor:
    """``(rows, features)`` bool with exactly ``int(rate * features)`` True per row, uniform."""
    k = int(rate * features)
    rank = torch.rand(rows, features, device=device).argsort(dim=1).argsort(dim=1)
    return rank < k


def _donors(rows: int, features: int, pool_rows: int | None, device: torch.device) -> Tensor:
    """Donor row per entry: another batch row, or any row of a pool of ``pool_rows``."""
    if pool_rows is None:
        shift = torch.randint(1, rows, (rows, features), device=device)
        return (torch.arange(rows, device=device)[:, None] + shift) % rows  # never the row itself
    return torch.randint(0, pool_rows, (rows, features), device=device)


def scarf_corrupt(x: Tensor, corruption_rate: float, pool: Tensor | None = None) -> Tensor:
    """Corrupt ``k = int(corruption_rate * F)`` features of every row (SCARF, arXiv 2106.15147).

    For each row ``i`` a uniformly random subset of ``k`` columns is chosen; each chosen
    entry ``(i, j)`` is replaced by ``x[r, j]`` with ``r`` drawn uniformly from the *other*
    rows of the batch (the batch's empirical marginal of feature ``j``), or, when ``pool`` is
    given, by ``pool[r, j]`` with ``r`` uniform over the pool's rows (e.g. the whole training set:
    the paper's empirical marginal). Randomness comes from torch's global RNG; ``x`` is not
    modified.

    Args:
        x: a batch of feature rows.
        corruption_rate: fraction of features replaced per row, in ``[0, 1]``.
        pool: optional donor rows ``(N, F)`` (default None: the batch itself).

    Shapes:
        x: ``(B, F)`` with ``B >= 2`` (``B >= 1`` with a pool) -> ``(B, F)``.

    Raises:
        ValueError: ``x`` is not 2-D with at least 2 rows, the rate is outside ``[0, 1]``, or the
            pool's width differs.
    """
    check_probability("corruption_rate", corruption_rate, inclusive_high=True)
    if x.dim() != 2 or x.shape[0] < (1 if pool is not None else 2):
        raise ValueError(
            f"x must have shape (B, F) with B >= 2 (values come from other rows), got "
            f"{tuple(x.shape)}."
        )
    b, f = x.shape
    if pool is not None and (pool.dim() != 2 or pool.shape[1] != f or pool.shape[0] < 1):
        raise ValueError(f"pool must have shape (N, {f}), got {tuple(pool.shape)}.")
    if int(corruption_rate * f) == 0:
        return x.clone()
    corrupt = corruption_mask(b, f, corruption_rate, x.device)
    donor = _donors(b, f, None if pool is None else pool.shape[0], x.device)
    source = x if pool is None else pool.to(x.device)
    return torch.where(corrupt, source.gather(0, donor), x)


def scarf_corrupt_columns(
    batch: Mapping[str, Tensor],
    corruption_rate: float,
    pool: Mapping[str, Tensor] | None = None,
) -> dict[str, Tensor]:
    """:func:`scarf_corrupt` on an encoded table batch, column by column.

    The ``F = n_num + n_cat`` columns of ``x_num`` and ``x_cat`` are corrupted jointly
    (``int(rate * F)`` per row); a replaced numerical entry takes its donor's value **and**
    missing flag, a categorical entry its donor's code.

    Shapes:
        batch: ``{"x_num": (B, n_num), "num_missing": (B, n_num), "x_cat": (B, n_cat)}``.
    """
    check_probability("corruption_rate", corruption_rate, inclusive_high=True)
    ref = next(iter(batch.values()))
    b, device = ref.shape[0], ref.device
    n_num = batch["x_num"].shape[1] if "x_num" in batch else 0
    n_cat = batch["x_cat"].shape[1] if "x_cat" in batch else 0
    f = n_num + n_cat
    if b < (1 if pool is not None else 2):
        raise ValueError(f"need at least 2 rows (values come from other rows), got {b}.")
    corrupt = corruption_mask(b, f, corruption_rate, device)
    pool_rows = None if pool is None else next(iter(pool.values())).shape[0]
    donor = _donors(b, f, pool_rows, device)
    source = batch if pool is None else pool
    out = dict(batch)
    for key, cols in (("x_num", slice(0, n_num)), ("num_missing", slice(0, n_num))):
        if key in batch and n_num:
            src = source[key].to(device).gather(0, donor[:, cols])
            out[key] = torch.where(corrupt[:, cols], src, batch[key])
    if n_cat:
        cols = slice(n_num, f)
        src = source["x_cat"].to(device).gather(0, donor[:, cols])
        out["x_cat"] = torch.where(corrupt[:, cols], src, batch["x_cat"])
    return out

"""Feature corruption by empirical marginals: replace some of each row's features by other rows'
values (SCARF: an exact count per row; VIME: an independent Bernoulli draw per entry)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from selfsup.checks import check_probability

__all__ = [
    "corruption_mask",
    "scarf_corrupt",
    "scarf_corrupt_columns",
    "vime_corrupt",
    "vime_corrupt_columns",
]


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


def _check_rows(x: Tensor, pool: Tensor | None) -> tuple[int, int]:
    """``(B, F)`` of feature rows with donors: 2 rows at least (1 with a pool of width ``F``)."""
    if x.dim() != 2 or x.shape[0] < (1 if pool is not None else 2):
        raise ValueError(
            f"x must have shape (B, F) with B >= 2 (values come from other rows), got "
            f"{tuple(x.shape)}."
        )
    b, f = x.shape
    if pool is not None and (pool.dim() != 2 or pool.shape[1] != f or pool.shape[0] < 1):
        raise ValueError(f"pool must have shape (N, {f}), got {tuple(pool.shape)}.")
    return b, f


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
    b, f = _check_rows(x, pool)
    if int(corruption_rate * f) == 0:
        return x.clone()
    corrupt = corruption_mask(b, f, corruption_rate, x.device)
    donor = _donors(b, f, None if pool is None else pool.shape[0], x.device)
    source = x if pool is None else pool.to(x.device)
    return torch.where(corrupt, source.gather(0, donor), x)


def _table_width(batch: Mapping[str, Tensor], pool: Mapping[str, Tensor] | None) -> tuple:
    """``(rows, n_num, n_cat, device)`` of an encoded batch with at least 2 rows (1 with a pool)."""
    ref = next(iter(batch.values()))
    b, device = ref.shape[0], ref.device
    n_num = batch["x_num"].shape[1] if "x_num" in batch else 0
    n_cat = batch["x_cat"].shape[1] if "x_cat" in batch else 0
    if b < (1 if pool is not None else 2):
        raise ValueError(f"need at least 2 rows (values come from other rows), got {b}.")
    return b, n_num, n_cat, device


def _replace_columns(
    batch: Mapping[str, Tensor], corrupt: Tensor, pool: Mapping[str, Tensor] | None
) -> dict[str, Tensor]:
    """Entries of the ``(B, n_num + n_cat)`` mask ``corrupt`` take a donor row's value (and a
    numerical one its donor's missing flag); the batch is not modified."""
    b, f = corrupt.shape
    n_num = batch["x_num"].shape[1] if "x_num" in batch else 0
    pool_rows = None if pool is None else next(iter(pool.values())).shape[0]
    donor = _donors(b, f, pool_rows, corrupt.device)
    source = batch if pool is None else pool
    out = dict(batch)
    for key in ("x_num", "num_missing"):
        if key in batch and n_num:
            src = source[key].to(corrupt.device).gather(0, donor[:, :n_num])
            out[key] = torch.where(corrupt[:, :n_num], src, batch[key])
    if f > n_num:
        src = source["x_cat"].to(corrupt.device).gather(0, donor[:, n_num:])
        out["x_cat"] = torch.where(corrupt[:, n_num:], src, batch["x_cat"])
    return out


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
    b, n_num, n_cat, device = _table_width(batch, pool)
    corrupt = corruption_mask(b, n_num + n_cat, corruption_rate, device)
    return _replace_columns(batch, corrupt, pool)


def vime_corrupt(x: Tensor, mask_prob: float, pool: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """VIME's pretext generator (Yoon et al., NeurIPS 2020): corrupted rows and what changed.

    Each entry is chosen independently with probability ``p_m`` (``m_ij ~ Bernoulli(p_m)``) and
    replaced by the same feature of a uniformly drawn other row of the batch (or of ``pool``),
    ``x_tilde = m * x_bar + (1 - m) * x``. The mask the method learns to estimate is
    the *changed* entries, ``x_tilde != x`` (the reference code's ``1 * (x != x_tilde)``): a
    chosen entry whose donor holds the same value is not a corruption one could detect.

    Args:
        x: a batch of feature rows.
        mask_prob: ``p_m``, in ``[0, 1]``.
        pool: optional donor rows ``(N, F)`` (default None: the batch itself).

    Shapes:
        x: ``(B, F)`` with ``B >= 2`` (``B >= 1`` with a pool) -> ``((B, F), (B, F) bool)``.

    Raises:
        ValueError: ``x`` is not 2-D with enough rows, ``p_m`` is outside ``[0, 1]``, or the
            pool's width differs.

    Examples:
        >>> x = torch.arange(12.0).view(4, 3)  # distinct values in every column
        >>> x_tilde, changed = vime_corrupt(x, 1.0)  # every entry takes another row's value
        >>> bool(changed.all()), changed.shape
        (True, torch.Size([4, 3]))
    """
    check_probability("mask_prob", mask_prob, inclusive_high=True)
    b, f = _check_rows(x, pool)
    chosen = torch.rand(b, f, device=x.device) < mask_prob
    donor = _donors(b, f, None if pool is None else pool.shape[0], x.device)
    source = x if pool is None else pool.to(x.device)
    x_tilde = torch.where(chosen, source.gather(0, donor), x)
    return x_tilde, x_tilde != x


def vime_corrupt_columns(
    batch: Mapping[str, Tensor],
    mask_prob: float,
    pool: Mapping[str, Tensor] | None = None,
) -> tuple[dict[str, Tensor], Tensor]:
    """:func:`vime_corrupt` on an encoded table batch: corrupted batch and changed columns.

    Each of the ``F = n_num + n_cat`` columns of each row is chosen with probability ``p_m``; a
    chosen numerical entry takes its donor's value and missing flag, a categorical entry its
    donor's code. A numerical entry counts as changed when its value or its missing flag
    differs, a categorical one when its code differs.

    Shapes:
        batch: ``{"x_num": (B, n_num), "num_missing": (B, n_num), "x_cat": (B, n_cat)}`` ->
        (the same, ``(B, F)`` bool).

    Examples:
        >>> batch = {"x_num": torch.randn(6, 2), "num_missing": torch.zeros(6, 2, dtype=torch.bool)}
        >>> corrupted, changed = vime_corrupt_columns(batch, 0.5)
        >>> changed.shape
        torch.Size([6, 2])
    """
    check_probability("mask_prob", mask_prob, inclusive_high=True)
    b, n_num, n_cat, device = _table_width(batch, pool)
    out = _replace_columns(batch, torch.rand(b, n_num + n_cat, device=device) < mask_prob, pool)
    changed = []
    if n_num:
        changed.append(out["x_num"] != batch["x_num"])
        if "num_missing" in batch:
            changed[-1] = changed[-1] | (out["num_missing"] != batch["num_missing"])
    if n_cat:
        changed.append(out["x_cat"] != batch["x_cat"])
    return out, torch.cat(changed, dim=1)

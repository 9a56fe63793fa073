"""Full-corpus retrieval evaluation: top-k over every item minus the user's history.

Every item of the catalog is scored (core :func:`selfsup.kernels.topk.similarity_topk`, exact,
in bounded memory); items the user already interacted with are excluded; Recall@K and NDCG@K
are averaged over the held-out (query, target item) rows, overall and per item group
(head / tail by training popularity). This is RecBole's ``full`` mode and SSLRec's all-rank
protocol, not the sampled 1 + 99 ranking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from selfsup.kernels.topk import similarity_topk

__all__ = [
    "evaluate_retrieval",
    "head_tail_groups",
    "ranking_metrics",
    "topk_excluding",
]


def _padded_sorted(seen: Sequence[Tensor], rows: range, pad: int) -> Tensor:
    width = max([len(seen[r]) for r in rows] + [1])
    out = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        s = seen[r]
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long).sort().values
    return out


@torch.no_grad()
def topk_excluding(
    queries: Tensor,
    items: Tensor,
    k: int,
    seen: Sequence[Tensor] | None = None,
    *,
    normalize: bool = False,
    chunk_size: int = 1024,
) -> Tensor:
    """Indices of the ``k`` best items per query, skipping each query's ``seen`` items.

    For a chunk of queries whose largest history has ``S`` items, the best ``min(M, k + S)``
    items are retrieved with :func:`~selfsup.kernels.topk.similarity_topk` and the seen ones
    removed, which is exact. Ties follow ``similarity_topk`` (lower index first).

    Args:
        queries: query vectors.
        items: item vectors (the whole catalog).
        k: list length.
        seen: per query, the item indices to exclude (default: none).
        normalize: cosine (True) or inner product (False, the default: towers are normalised).
        chunk_size: queries per chunk (default 1024).

    Shapes:
        queries ``(Q, D)``, items ``(M, D)``, ``seen[i]`` ``(S_i,)`` -> ``(Q, k)`` int64, ``-1``
        where fewer than ``k`` unseen items exist.

    Raises:
        ValueError: ``k < 1``, or ``seen`` of the wrong length.
    """
    n_q, n_items = queries.shape[0], items.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}.")
    if seen is not None and len(seen) != n_q:
        raise ValueError(f"seen must hold one entry per query ({n_q}), got {len(seen)}.")
    out = torch.full((n_q, k), -1, dtype=torch.long)
    for start in range(0, n_q, chunk_size):
        rows = range(start, min(start + chunk_size, n_q))
        excl = _padded_sorted(seen, rows, n_items) if seen is not None else None
        extra = 0 if excl is None else int((excl < n_items).sum(1).max())
        kk = min(n_items, k + extra)
        _, idx = similarity_topk(queries[start : rows.stop], items, kk, normalize=normalize)
        idx = idx.cpu()
        if excl is not None:
            pos = torch.searchsorted(excl, idx).clamp_max(excl.shape[1] - 1)
            drop = excl.gather(1, pos) == idx
            order = drop.to(torch.int8).argsort(dim=1, stable=True)
            idx = idx.gather(1, order).masked_fill(drop.gather(1, order), -1)
        width = min(k, idx.shape[1])
        out[start : rows.stop, :width] = idx[:, :width]
    return out


def head_tail_groups(train_counts: Tensor, head_fraction: float = 0.2) -> dict[str, Tensor]:
    """Head = the ``ceil(head_fraction * M)`` items with most training interactions, tail = rest.

    Ties at the cut are broken by item index (lower first), deterministically.

    Shapes:
        train_counts ``(M,)`` -> ``{"head": (M,) bool, "tail": (M,) bool}``.

    Raises:
        ValueError: ``head_fraction`` outside ``[0, 1]``.
    """
    if not 0.0 <= head_fraction <= 1.0:
        raise ValueError(f"head_fraction must be in [0, 1], got {head_fraction}.")
    counts = torch.as_tensor(train_counts)
    n_head = math.ceil(head_fraction * len(counts))
    order = torch.sort(counts, descending=True, stable=True).indices
    head = torch.zeros(len(counts), dtype=torch.bool)
    head[order[:n_head]] = True
    return {"head": head, "tail": ~head}


def ranking_metrics(
    topk: Tensor,
    targets: Tensor,
    ks: Sequence[int] = (10, 50),
    groups: Mapping[str, Tensor] | None = None,
) -> dict[str, float]:
    """Recall@K and NDCG@K of one held-out target per row, overall and per target-item group.

    With ``r`` the 0-based position of the target in the row's list,

    .. math::

        \\mathrm{Recall@K} = [r < K], \\qquad \\mathrm{NDCG@K} = \\frac{[r < K]}{\\log_2(r + 2)}

    (one relevant item: IDCG = 1), averaged over rows; ``{group}/...`` averages over the rows
    whose target is in the group. A user with several held-out items contributes one row per
    item (micro average).

    Shapes:
        topk ``(Q, K_max)`` item indices (``-1`` = none), targets ``(Q,)``, groups
        ``{name: (M,) bool}``.

    Returns:
        ``{"recall@K": ..., "ndcg@K": ..., "head/recall@K": ..., ...}``; NaN for an empty group.

    Raises:
        ValueError: a ``K`` above the list length or mismatched rows.
    """
    if topk.shape[0] != targets.shape[0]:
        raise ValueError(f"topk has {topk.shape[0]} rows but targets {targets.shape[0]}.")
    if max(ks) > topk.shape[1]:
        raise ValueError(f"K = {max(ks)} exceeds the list length {topk.shape[1]}.")
    hit = topk == targets[:, None]
    found = hit.any(1)
    rank = torch.where(found, hit.float().argmax(1), torch.full_like(targets, 10**9)).double()
    masks = {"": torch.ones(len(targets), dtype=torch.bool)}
    for name, group in (groups or {}).items():
        masks[f"{name}/"] = group[targets]
    out: dict[str, float] = {}
    for prefix, mask in masks.items():
        for k in ks:
            inside = (rank < k).double()
            ndcg = inside / torch.log2(rank.clamp_max(k) + 2)
            n = int(mask.sum())
            out[f"{prefix}recall@{k}"] = float(inside[mask].mean()) if n else float("nan")
            out[f"{prefix}ndcg@{k}"] = float(ndcg[mask].mean()) if n else float("nan")
    return out


def evaluate_retrieval(
    queries: Tensor,
    items: Tensor,
    targets: Tensor,
    seen: Sequence[Tensor] | None,
    train_counts: Tensor,
    ks: Sequence[int] = (10, 50),
    head_fraction: float = 0.2,
) -> dict[str, float]:
    """:func:`topk_excluding` then :func:`ranking_metrics` with :func:`head_tail_groups`.

    Shapes:
        queries ``(Q, D)``, items ``(M, D)``, targets ``(Q,)``, train_counts ``(M,)``.
    """
    topk = topk_excluding(queries, items, max(ks), seen)
    return ranking_metrics(topk, targets.cpu(), ks, head_tail_groups(train_counts, head_fraction))

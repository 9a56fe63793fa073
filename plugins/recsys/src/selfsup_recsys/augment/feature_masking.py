"""Two-view feature masking for the item-tower SSL task (Yao et al. 2021, Sec. 3.2).

Both patterns are *complementary*: the feature set is split into two disjoint subsets, one masked
in each view, drawn once per batch.

- RFM (random feature masking): a uniformly random split into ``floor(k/2)`` and the rest.
- CFM (correlated feature masking): a seed feature uniform over the ``k`` features plus its
  ``n = floor(k/2)`` most correlated features (by pre-computed mutual information) are masked in
  one view, the complement in the other; so correlated features do not sit in different views
  where one would give the other away.

Values inside multi-valued features are then dropped independently (:func:`bag_dropout`).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["bag_dropout", "correlated_feature_masks", "random_feature_masks"]


def random_feature_masks(
    num_features: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """RFM: ``(mask_a, mask_b)``, complementary ``(k,)`` bool masks; ``mask_a`` has ``floor(k/2)``.

    Raises:
        ValueError: ``num_features < 2`` (one view would keep nothing).
    """
    if num_features < 2:
        raise ValueError(
            f"feature masking needs >= 2 features (one per view), got {num_features}; add item "
            "features or use ssl='none'."
        )
    perm = torch.randperm(num_features, generator=generator)
    mask_a = torch.zeros(num_features, dtype=torch.bool)
    mask_a[perm[: num_features // 2]] = True
    return mask_a, ~mask_a


def correlated_feature_masks(
    mi: Tensor, generator: torch.Generator | None = None, num_correlated: int | None = None
) -> tuple[Tensor, Tensor]:
    """CFM: mask ``{f_seed} ∪ top-n(MI(f_seed, .))`` in view a, the complement in view b.

    Ties in MI are broken by feature order (stable sort), so features without MI (numeric,
    dense: 0) follow in declaration order.

    Args:
        mi: ``(k, k)`` pairwise mutual information (diagonal ignored).
        generator: RNG of the seed feature (default: torch's global RNG).
        num_correlated: ``n`` (default ``floor(k/2)``, the CIKM text), clipped to ``k - 2`` so
            that view b keeps at least one feature.

    Shapes:
        mi: ``(k, k)``; masks ``(k,)`` bool.

    Raises:
        ValueError: ``mi`` not square, or ``k < 2``.
    """
    if mi.dim() != 2 or mi.shape[0] != mi.shape[1]:
        raise ValueError(f"mi must be a square (k, k) matrix, got {tuple(mi.shape)}.")
    k = mi.shape[0]
    if k < 2:
        raise ValueError(f"feature masking needs >= 2 features (one per view), got {k}.")
    n = k // 2 if num_correlated is None else num_correlated
    n = max(0, min(n, k - 2))
    seed = int(torch.randint(k, (1,), generator=generator))
    scores = mi[seed].clone().double()
    scores[seed] = float("-inf")
    order = torch.sort(scores, descending=True, stable=True).indices
    mask_a = torch.zeros(k, dtype=torch.bool)
    mask_a[seed] = True
    mask_a[order[:n]] = True
    return mask_a, ~mask_a


def bag_dropout(bag: Tensor, rate: float, generator: torch.Generator | None = None) -> Tensor:
    """Drop each value of a padded bag independently with probability ``rate`` (set to ``-1``).

    A bag that loses all its values becomes empty (the tower then uses the default embedding).
    Returns a new tensor; ``bag`` is unchanged.

    Shapes:
        bag: ``(B, L)`` int64, ``-1`` = padding -> ``(B, L)``.

    Raises:
        ValueError: ``rate`` outside ``[0, 1]``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout rate must be in [0, 1], got {rate}.")
    if rate == 0.0 or bag.numel() == 0:
        return bag.clone()
    drop = torch.rand(bag.shape, generator=generator, device=bag.device) < rate
    return bag.masked_fill(drop, -1)

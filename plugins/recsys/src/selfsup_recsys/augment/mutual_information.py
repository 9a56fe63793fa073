"""Pairwise mutual information between categorical item features (Yao et al. 2021, Eq. 4).

Correlated Feature Masking needs ``MI(V_i, V_j)`` for every pair of item features, computed once
over the training data. The paper does not say how ``P`` is estimated for multi-valued features
or over which population; here each catalog item counts once (the population SSL samples from,
uniformly) and a bag contributes each of its values with weight ``1 / |bag|``, i.e. ``P`` is the
distribution of one value drawn uniformly from each item's bags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from selfsup_recsys.batch import FeatureSpec

__all__ = ["feature_mutual_information", "mutual_information"]


def _as_bag(x: Tensor) -> Tensor:
    """Categorical ``(N,)`` -> ``(N, 1)``; bags stay ``(N, L)`` padded with ``-1``."""
    return x[:, None] if x.dim() == 1 else x


def mutual_information(a: Tensor, b: Tensor) -> float:
    """Mutual information (nats) of two categorical features over ``N`` items.

    .. math::

        MI(V_a, V_b) = \\sum_{u, v} P(u, v) \\log \\frac{P(u, v)}{P(u) P(v)}, \\qquad
        P(u, v) = \\frac{1}{N'} \\sum_n \\frac{[u \\in a_n][v \\in b_n]}{|a_n| |b_n|}

    over the ``N'`` items whose two bags are both non-empty; ``P(u)``, ``P(v)`` are the marginals
    of that joint.

    Shapes:
        a, b: ``(N,)`` or ``(N, L)`` int64 (bags padded with ``-1``).

    Raises:
        ValueError: different item counts or non-integer inputs.
    """
    a, b = _as_bag(a), _as_bag(b)
    if a.shape[0] != b.shape[0] or a.is_floating_point() or b.is_floating_point():
        raise ValueError(
            f"mutual_information needs two integer feature columns over the same items, got "
            f"{a.dtype} {tuple(a.shape)} and {b.dtype} {tuple(b.shape)}."
        )
    na, nb = (a >= 0).sum(1), (b >= 0).sum(1)
    keep = (na > 0) & (nb > 0)
    if not bool(keep.any()):
        return 0.0
    a, b, na, nb = a[keep], b[keep], na[keep], nb[keep]
    pa = a[:, :, None].expand(-1, -1, b.shape[1])
    pb = b[:, None, :].expand(-1, a.shape[1], -1)
    valid = (pa >= 0) & (pb >= 0)
    weight = (1.0 / (na * nb).double())[:, None, None].expand_as(valid)[valid]
    pairs = torch.stack([pa[valid], pb[valid]], dim=1)
    uniq, inverse = pairs.unique(dim=0, return_inverse=True)
    joint = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inverse, weight)
    joint = joint / joint.sum()
    ua, ia = uniq[:, 0].unique(return_inverse=True)
    ub, ib = uniq[:, 1].unique(return_inverse=True)
    marg_a = torch.zeros(len(ua), dtype=torch.float64).index_add_(0, ia, joint)
    marg_b = torch.zeros(len(ub), dtype=torch.float64).index_add_(0, ib, joint)
    mi = (joint * (joint.log() - marg_a[ia].log() - marg_b[ib].log())).sum()
    return max(float(mi), 0.0)  # rounding can give -1e-17 for independent features


def feature_mutual_information(
    features: Mapping[str, Tensor], specs: Sequence[FeatureSpec]
) -> Tensor:
    """The ``(F, F)`` matrix of pairwise MI between the declared item features.

    Computed over the rows of ``features`` (typically every catalog item, once). Numeric and
    dense features have no categorical distribution: their rows and columns are 0, so CFM only
    groups them with a seed by tie order. The diagonal is 0 (a feature is never its own
    "correlated feature").

    Shapes:
        features: ``{name: (N,) or (N, L)}``; output ``(F, F)`` float64, symmetric.
    """
    k = len(specs)
    mi = torch.zeros(k, k, dtype=torch.float64)
    for i in range(k):
        for j in range(i + 1, k):
            if specs[i].sparse and specs[j].sparse:
                v = mutual_information(features[specs[i].name], features[specs[j].name])
                mi[i, j] = mi[j, i] = v
    return mi

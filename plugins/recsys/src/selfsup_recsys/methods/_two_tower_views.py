"""FeatureTwoTower's SSL views: two complementary feature masks (RFM or CFM) plus bag dropout.

Helper of :class:`~selfsup_recsys.methods.FeatureTwoTower` only (Yao et al., arXiv 2007.12865).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from selfsup_recsys.augment.feature_masking import (
    bag_dropout,
    correlated_feature_masks,
    random_feature_masks,
)
from selfsup_recsys.encoders.tower import FeatureTower

__all__ = ["SSL_MODES", "ssl_views"]

SSL_MODES = ("none", "rfm", "cfm")


def ssl_views(
    tower: FeatureTower,
    items: Mapping[str, Tensor],
    ssl: str,
    feature_mi: Tensor,
    mi_ready: bool,
    num_correlated: int | None,
    dropout: float,
) -> tuple[Tensor, Tensor]:
    """The item ``tower``'s vectors of two views of ``items``: complementary feature masks
    (``ssl="cfm"``: from the ``(k, k)`` mutual information ``feature_mi``; else random) and
    bag dropout of rate ``dropout``.

    Raises:
        RuntimeError: ``ssl="cfm"`` before the mutual information is set (``mi_ready`` false).
    """
    k = len(tower.specs)
    if ssl == "cfm":
        if not mi_ready:
            raise RuntimeError(
                "ssl='cfm' needs the item-feature mutual information: call "
                "set_feature_correlation(feature_mutual_information(...)) or train with "
                "InteractionDataModule, which computes it in setup()."
            )
        mask_a, mask_b = correlated_feature_masks(feature_mi, None, num_correlated)
    else:
        mask_a, mask_b = random_feature_masks(k)
    views = []
    for mask in (mask_a, mask_b):
        view = dict(items)
        for spec in tower.specs:
            if spec.kind == "bag":
                view[spec.name] = bag_dropout(items[spec.name], dropout)
        views.append(tower(view, mask))
    return views[0], views[1]

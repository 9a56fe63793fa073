"""Item-feature augmentations for the SSL task: RFM/CFM masks, bag dropout, feature MI."""

from selfsup_recsys.augment.feature_masking import (
    bag_dropout,
    correlated_feature_masks,
    random_feature_masks,
)
from selfsup_recsys.augment.mutual_information import (
    feature_mutual_information,
    mutual_information,
)

__all__ = [
    "bag_dropout",
    "correlated_feature_masks",
    "feature_mutual_information",
    "mutual_information",
    "random_feature_masks",
]

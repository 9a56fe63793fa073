"""Methods for recommendation (retrieval)."""

from selfsup_recsys.methods.feature_two_tower import FeatureTwoTower
from selfsup_recsys.methods.two_tower import TwoTowerRetrieval

__all__ = ["FeatureTwoTower", "TwoTowerRetrieval"]

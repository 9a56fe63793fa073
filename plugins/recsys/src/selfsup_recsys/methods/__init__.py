"""Methods for recommendation (retrieval)."""

from selfsup_recsys.methods.two_tower import TwoTowerRetrieval

__all__ = ["TwoTowerRetrieval"]

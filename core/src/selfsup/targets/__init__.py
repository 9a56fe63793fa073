"""Targets computed from the data or the model rather than learned by gradient: cluster
assignments of embeddings (:class:`KMeans`, HuBERT / DeepCluster-style offline labels) and
equipartitioned soft codes of a batch (:func:`sinkhorn_knopp`, SwAV)."""

from selfsup.targets.kmeans import KMeans
from selfsup.targets.sinkhorn import sinkhorn_knopp

__all__ = ["KMeans", "sinkhorn_knopp"]

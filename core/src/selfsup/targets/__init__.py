"""Targets computed from the data or the model rather than learned by gradient: cluster
assignments of embeddings (:class:`KMeans`, HuBERT / DeepCluster-style offline labels) and
equipartitioned soft codes of a batch (:func:`sinkhorn_knopp`, SwAV) and the averaged,
normalised layers of a teacher (:func:`layer_average_targets`, data2vec)."""

from selfsup.targets.kmeans import KMeans
from selfsup.targets.layer_average import instance_norm_tokens, layer_average_targets
from selfsup.targets.sinkhorn import sinkhorn_knopp

__all__ = ["KMeans", "instance_norm_tokens", "layer_average_targets", "sinkhorn_knopp"]

"""Probes of frozen embeddings for this plugin's data."""

from selfsup_template.evaluation.knn_probe import knn_probe

__all__ = ["knn_probe"]

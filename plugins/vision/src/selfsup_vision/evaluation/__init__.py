"""Evaluation of frozen image encoders: kNN and linear probes on labelled image folders.

``python -m selfsup_vision.evaluation --encoder-dir DIR --data-root ROOT`` runs it offline.
"""

from selfsup_vision.evaluation.encoder_probe import evaluate_encoder, extract_features

__all__ = ["evaluate_encoder", "extract_features"]

"""Evaluation of frozen and fine-tuned audio encoders: embeddings of a loader, the linear probe,
the fine-tuning classifier head."""

from selfsup_audio.evaluation.downstream import AudioClassifier, embed_loader, probe_embeddings

__all__ = ["AudioClassifier", "embed_loader", "probe_embeddings"]

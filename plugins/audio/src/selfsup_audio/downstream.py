"""Deprecated: moved to :mod:`selfsup_audio.evaluation.downstream` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("AudioClassifier", "embed_loader", "probe_embeddings")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_audio.evaluation.downstream", _MOVED)

"""Deprecated: moved to :mod:`selfsup_recsys.evaluation.monitor` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("RetrievalMonitor",)
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_recsys.evaluation.monitor", _MOVED)

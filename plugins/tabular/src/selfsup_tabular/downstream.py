"""Deprecated: moved to :mod:`selfsup_tabular.evaluation.downstream` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("FineTuneModel", "MLPHead", "RawMLP", "fit_supervised", "predict", "score")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_tabular.evaluation.downstream", _MOVED)

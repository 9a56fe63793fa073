"""Deprecated: moved to :mod:`selfsup.losses.mixed_barlow` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("mixed_barlow_regularizer", "standardize")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup.losses.mixed_barlow", _MOVED)

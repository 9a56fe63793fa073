"""Deprecated: moved to :mod:`selfsup_vision.augment.simclr` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("SimCLRAugment",)
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_vision.augment.simclr", _MOVED)

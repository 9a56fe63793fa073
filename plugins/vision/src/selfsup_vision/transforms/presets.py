"""Deprecated: moved to :mod:`selfsup_vision.augment.presets` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("PRESETS", "ViewSpec", "device_augments", "preset")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_vision.augment.presets", _MOVED)

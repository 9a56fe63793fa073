"""Deprecated: moved to :mod:`selfsup_vision.batch` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("PIXEL_TOLERANCE", "ImageBatch", "parse_image_batch")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_vision.batch", _MOVED)

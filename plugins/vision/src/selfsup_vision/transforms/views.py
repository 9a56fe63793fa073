"""Deprecated: moved to :mod:`selfsup_vision.augment.views` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("MultiView", "multicrop_views", "view_transform", "views_collate")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_vision.augment.views", _MOVED)

"""Deprecated: moved to :mod:`selfsup_vision.augment` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = (
    "PRESETS",
    "MultiView",
    "SimCLRAugment",
    "ViewSpec",
    "device_augments",
    "multicrop_views",
    "preset",
    "view_transform",
    "views_collate",
)
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_vision.augment", _MOVED)

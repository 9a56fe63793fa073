"""Deprecated: moved to :mod:`selfsup_recsys.batch` (kept for one release)."""

from selfsup.deprecation import forwarder

_MOVED = ("KINDS", "FeatureSpec", "check_features", "parse_features", "specs_to_dicts")
__all__ = list(_MOVED)
__getattr__ = forwarder(__name__, "selfsup_recsys.batch", _MOVED)

"""Vision-specific loss terms not (yet) in :mod:`selfsup.losses`."""

from selfsup_vision.losses.mixed_barlow import mixed_barlow_regularizer, standardize

__all__ = ["mixed_barlow_regularizer", "standardize"]

"""Batched, on-device image augmentations in pure torch."""

from selfsup_vision.transforms.simclr import SimCLRAugment

__all__ = ["SimCLRAugment"]

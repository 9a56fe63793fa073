"""Self-supervised methods for images."""

from selfsup_vision.methods.simclr import SimCLR

__all__ = ["SimCLR"]

"""Self-supervised methods for audio."""

from selfsup_audio.methods.cola import COLA

__all__ = ["COLA"]

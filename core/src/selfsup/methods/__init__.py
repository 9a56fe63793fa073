"""Methods that belong to no single modality (cross-modal alignment)."""

from selfsup.methods.alignment import CrossModalAlignment

__all__ = ["CrossModalAlignment"]

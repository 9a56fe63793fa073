"""Methods that belong to no single modality (cross-modal alignment, token-set contrastive)."""

from selfsup.methods.alignment import CrossModalAlignment
from selfsup.methods.token_contrastive import TokenContrastive

__all__ = ["CrossModalAlignment", "TokenContrastive"]

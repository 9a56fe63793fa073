"""Methods that belong to no single modality: cross-modal alignment, and the token methods
(token-set contrastive, data2vec 2.0) that train any modality through its tokenizer."""

from selfsup.methods.alignment import CrossModalAlignment
from selfsup.methods.data2vec import Data2Vec
from selfsup.methods.token_contrastive import TokenContrastive

__all__ = ["CrossModalAlignment", "Data2Vec", "TokenContrastive"]

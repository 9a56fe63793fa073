"""Self-supervised methods for tabular data."""

from selfsup_tabular.methods.scarf import SCARF
from selfsup_tabular.methods.tjepa import TJEPA

__all__ = ["SCARF", "TJEPA"]

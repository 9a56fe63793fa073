"""Self-supervised methods for tabular data."""

from selfsup_tabular.methods.scarf import SCARF

__all__ = ["SCARF"]

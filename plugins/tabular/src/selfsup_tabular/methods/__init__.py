"""Self-supervised methods for tabular data."""

from selfsup_tabular.methods.scarf import SCARF, SCARFEncoder
from selfsup_tabular.methods.tjepa import TJEPA, TJEPAEncoder

__all__ = ["SCARF", "SCARFEncoder", "TJEPA", "TJEPAEncoder"]

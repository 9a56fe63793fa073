"""Self-supervised methods for tabular data."""

from selfsup_tabular.methods.scarf import SCARF, SCARFEncoder
from selfsup_tabular.methods.tjepa import TJEPA, TJEPAEncoder
from selfsup_tabular.methods.vime import VIME, vime_loss

__all__ = ["SCARF", "SCARFEncoder", "TJEPA", "TJEPAEncoder", "VIME", "vime_loss"]

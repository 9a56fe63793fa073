"""Corruptions of feature rows (global torch RNG)."""

from selfsup_tabular.augment.corruption import (
    corruption_mask,
    scarf_corrupt,
    scarf_corrupt_columns,
    vime_corrupt,
    vime_corrupt_columns,
)

__all__ = [
    "corruption_mask",
    "scarf_corrupt",
    "scarf_corrupt_columns",
    "vime_corrupt",
    "vime_corrupt_columns",
]

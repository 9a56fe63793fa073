"""Corruptions of feature rows (global torch RNG)."""

from selfsup_tabular.augment.corruption import scarf_corrupt

__all__ = ["scarf_corrupt"]

"""Table cells as the preprocessing reads them: stripped strings, missing markers, numbers.

Shared by the feature preprocessing (:mod:`selfsup_tabular.data.preprocessing`) and the label
encoder (:mod:`selfsup_tabular.data.labels`), so a cell means the same thing in both.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from selfsup.imports import require

__all__ = [
    "DEFAULT_MISSING_VALUES",
    "as_strings",
    "frequent_examples",
    "ndtri",
    "pandas_module",
    "to_float",
    "warn_infinite",
]

#: Strings read as missing (after stripping whitespace), besides NaN/None.
DEFAULT_MISSING_VALUES = ("", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")


def pandas_module() -> Any:
    """pandas, imported on first use."""
    # pandas is a dependency of selfsup-tabular, imported on first use (plugin.py stays light)
    return require("pandas", "pandas")


def as_strings(series: Any, missing: frozenset[str]) -> Any:
    """Stripped strings with NaN/None and missing markers as None (object dtype)."""
    pd = pandas_module()
    out = []
    for v in series.to_numpy(dtype=object):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append(None)
            continue
        s = str(v).strip()
        out.append(None if s in missing else s)
    return pd.Series(out, index=series.index, dtype=object)


def to_float(strings: Any) -> np.ndarray:
    """Numbers of a string series; anything else NaN (float64)."""
    pd = pandas_module()
    return pd.to_numeric(strings, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def ndtri(u: np.ndarray) -> np.ndarray:
    """The standard normal quantile function of ``u`` in ``(0, 1)``."""
    return torch.special.ndtri(torch.from_numpy(u)).numpy()


def frequent_examples(strings: Any, limit: int = 3) -> list[str]:
    """The most frequent values of ``strings`` (ties alphabetical), for warnings."""
    counts = strings.value_counts()
    return [str(v) for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))][:limit]


def warn_infinite(name: str, strings: Any, values: np.ndarray, when: str) -> None:
    """Warn that a numerical column's infinite values are read as missing."""
    infinite = np.isinf(values)
    if infinite.any():
        warnings.warn(
            f"numerical column {name!r} ({when}): {int(infinite.sum())} infinite value(s) (e.g. "
            f"{frequent_examples(strings[infinite])}) are treated as missing.",
            stacklevel=3,
        )

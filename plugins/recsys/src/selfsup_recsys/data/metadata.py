"""Metadata tables' cells: raw ids, missing values, categorical and bag values, numbers, and
the checks a metadata table passes before :class:`~selfsup_recsys.data.FeatureTable` encodes it."""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from selfsup_recsys.data.interactions import NA_STRINGS, row_label, source_name

__all__ = [
    "bag_values",
    "category_value",
    "is_missing",
    "numeric_values",
    "plain_key",
    "prepare_metadata",
]


def plain_key(key: Hashable) -> Hashable:
    """A raw id as a plain Python value (numpy scalars -> ``int``/``float``/``str``).

    Examples:
        >>> plain_key(np.int64(7)), plain_key("u1")
        (7, 'u1')
    """
    return key.item() if isinstance(key, np.generic) else key


def is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def category_value(v: Any) -> str:
    """A categorical value as its vocabulary string; ``3.0`` and ``3`` are one value (pandas
    reads an integer column with a gap as floats)."""
    v = plain_key(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def bag_values(v: Any, sep: str) -> list[str]:
    if is_missing(v):
        return []
    if isinstance(v, str):
        return [t for t in (s.strip() for s in v.split(sep)) if t]
    if isinstance(v, Iterable):
        return [category_value(t) for t in v if not is_missing(t)]
    return [category_value(v)]


def numeric_values(
    values: pd.Series, column: str, source: str, ids: Sequence[Hashable] | None = None
) -> np.ndarray:
    """A numeric column as float64, missing cells (and pandas' missing markers such as
    ``"NA"``) as NaN.

    Raises:
        ValueError: a present value that is not a number, or an infinite one (the message names
            the file, column, data rows, ids and values): it would silently become the mean.
    """
    if pd.api.types.is_bool_dtype(values):
        x = values.astype(float).to_numpy()
        bad = np.zeros(len(x), dtype=bool)
    elif pd.api.types.is_numeric_dtype(values):
        x = values.astype(float).to_numpy()
        bad = np.isinf(x)
    else:
        text = values.map(lambda v: None if is_missing(v) else str(v).strip())
        text = text.where(~text.isin(NA_STRINGS), None)
        x = pd.to_numeric(text, errors="coerce").astype(float).to_numpy()
        bad = (text.notna().to_numpy() & np.isnan(x)) | np.isinf(x)
    if bad.any():
        positions = np.flatnonzero(bad)
        shown = ", ".join(
            f"{row_label(source, int(p))}"
            + (f" id {plain_key(ids[int(p)])!r}" if ids is not None else "")
            + f": {plain_key(values.iloc[int(p)])!r}"
            for p in positions[:5]
        )
        raise ValueError(
            f"{source}: numeric column {column!r} has {len(positions)} value(s) that are not "
            f"finite numbers: {shown}. Fix them (a decimal point, not a comma), leave the cell "
            "empty for a missing value (it gets the mean), or declare the column categorical."
        )
    return x


def prepare_metadata(
    frame: pd.DataFrame,
    key_column: str,
    columns: Mapping[str, str] | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Check a metadata table (one row per entity) before it is encoded.

    Rows without an id are dropped (warned, with the count). A repeated id whose rows agree on
    the declared ``columns`` keeps one row (warned); one whose rows disagree is refused, since
    which row is right cannot be known. Numeric columns must hold numbers
    (:func:`numeric_values`).

    Returns:
        The frame without id-less rows and repeated ids (the file's order otherwise).

    Raises:
        KeyError: ``key_column`` or a declared column is missing.
        ValueError: conflicting rows for one id, or an unreadable numeric value.
    """
    source = source or source_name(frame, "the metadata table")
    columns = dict(columns or {})
    missing = [c for c in [key_column, *columns] if c not in frame.columns]
    if missing:
        raise KeyError(
            f"feature columns {missing} not found in {source}; the table has {list(frame.columns)}."
        )
    keys = list(frame[key_column])
    for col, kind in columns.items():
        if kind == "numeric":
            numeric_values(frame[col], col, source, keys)
    no_id = frame[key_column].isna()
    if bool(no_id.any()):
        rows = ", ".join(row_label(source, int(p)) for p in np.flatnonzero(no_id.to_numpy())[:5])
        warnings.warn(
            f"{source}: {int(no_id.sum())} row(s) have no {key_column!r} and are ignored ({rows}).",
            stacklevel=3,
        )
    out = frame[~no_id]
    repeated = out[key_column].duplicated(keep=False)
    if bool(repeated.any()):
        dup = out[repeated]
        # rows of one id that differ in a declared column: compare their string forms, so that
        # NaN equals NaN and 3 equals 3.0 as the encoding itself would treat them
        conflicting: list[Hashable] = []
        if columns:
            signature = dup[list(columns)].map(
                lambda v: None if is_missing(v) else category_value(v)
            )
            counts = signature.groupby(dup[key_column].to_numpy()).nunique(dropna=False)
            conflicting = list(counts.index[(counts > 1).any(axis=1)])
        if conflicting:
            key = conflicting[0]
            where = np.flatnonzero((out[key_column] == key).to_numpy())
            positions = np.flatnonzero(~no_id.to_numpy())[where]
            rows = ", ".join(row_label(source, int(p)) for p in positions[:5])
            raise ValueError(
                f"{source}: {len(conflicting)} id(s) have several rows that disagree, e.g. "
                f"{plain_key(key)!r} ({rows}); keep one row per {key_column!r}."
            )
        extra = int(out[key_column].duplicated().sum())
        warnings.warn(
            f"{source}: {extra} repeated row(s) of the same {key_column!r} with the same values "
            f"(e.g. {plain_key(dup[key_column].iloc[0])!r}); one row of each is kept.",
            stacklevel=3,
        )
        out = out.drop_duplicates(key_column)
    return out

"""Interaction tables: reading, cleaning, leave-last-out splitting and reduced-data mode."""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from selfsup.checks import repeated

__all__ = [
    "NA_STRINGS",
    "Splits",
    "check_id_kinds",
    "clean_interactions",
    "leave_last_out",
    "parse_times",
    "read_table",
    "reduce_training",
    "row_label",
    "source_name",
]


#: pandas' default missing-value markers: a cell holding one of these is missing, not text
NA_STRINGS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip
_SEPARATORS = (";", "\t", "|")


def source_name(frame: pd.DataFrame, default: str) -> str:
    """The file a frame was read from (:func:`read_table` records it), else ``default``."""
    return str(frame.attrs.get("source") or default)


def row_label(source: str, position: int) -> str:
    """``"data row 3 (line 4)"`` for a CSV with a header line, ``"data row 3"`` otherwise."""
    row = f"data row {position + 1}"
    return f"{row} (line {position + 2})" if source.lower().endswith(".csv") else row


def _csv_header(path: str) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def read_table(path: str, **csv_kwargs: object) -> pd.DataFrame:
    """Read a CSV (any pandas ``read_csv`` options) or Parquet file (by extension).

    The frame remembers its file (``frame.attrs["source"]``) so that later errors name it. A
    UTF-8 byte-order mark is skipped. Cells pandas reads as missing (empty, ``NA``, ``null``,
    ...) are missing values.

    Raises:
        FileNotFoundError: the file does not exist (the message says how to set the data root).
        ValueError: an empty file, a header without data rows, a file read as one column whose
            name holds ``;``, a tab or ``|`` (another delimiter than the comma), repeated
            column names, a row with more fields than the header, or a file that is not UTF-8.

    Examples:
        >>> read_table("interactions.csv")  # doctest: +SKIP
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"table {path!r} not found; pass an absolute path, or a path relative to the data "
            "folder given by data_root= or the environment variable SELFSUP_DATA."
        )
    if path.endswith((".parquet", ".pq")):
        frame = pd.read_parquet(path)
    else:
        try:
            frame = pd.read_csv(path, **csv_kwargs)  # type: ignore[arg-type]
            header = _csv_header(path) if not csv_kwargs else list(map(str, frame.columns))
        except pd.errors.EmptyDataError as err:
            raise ValueError(
                f"{path!r} is empty: a table needs a header line and at least one data row."
            ) from err
        except pd.errors.ParserError as err:
            raise ValueError(f"{path!r} is not a well-formed CSV table: {err}") from err
        except UnicodeDecodeError as err:
            raise ValueError(f"{path!r} is not UTF-8 text ({err}); save it as UTF-8.") from err
        twice = repeated(header)
        if twice:
            # pandas would rename the second copy ("item.1") and read the first without a word
            raise ValueError(
                f"{path!r} repeats the column name(s) {twice} in its header; give every "
                "column a distinct name."
            )
        if frame.shape[1] == 1:
            name = str(frame.columns[0])
            sep = next((c for c in _SEPARATORS if c in name), None)
            if sep is not None:
                raise ValueError(
                    f"{path!r} was read as one column {name!r}: it looks separated by {sep!r}, "
                    "not by commas; write it as comma-separated CSV (or Parquet)."
                )
    if frame.empty:
        raise ValueError(
            f"{path!r} has a header ({list(map(str, frame.columns))}) but no data rows; fill it "
            "or leave the file out of the configuration."
        )
    frame.attrs["source"] = path
    return frame


def parse_times(values: pd.Series, source: str, column: str) -> pd.Series:
    """Timestamps as numbers or as UTC datetimes, decided for the whole column.

    A column whose every present value is a number (Unix seconds, a counter, ...) becomes
    float; else one whose every present value is an ISO 8601 date or datetime (``2024-03-01``,
    ``2024-03-01T10:00:00+02:00``; no offset = UTC) becomes UTC datetimes. Missing cells stay
    missing (the row is dropped later, with a warning). Anything else is refused: sorting a
    column that mixes numbers with text would sort it as text and hold out the wrong item.

    Raises:
        ValueError: values that are neither (the message names the file, data rows and
            values), or a number that is not finite.

    Examples:
        >>> parse_times(pd.Series(["5", "40", None]), "x.csv", "t").tolist()[:2]
        [5.0, 40.0]
    """
    present = values.notna()
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_bool_dtype(values):
        raise ValueError(f"{source}: time column {column!r} holds booleans, not timestamps.")
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype(float)
        parsed_ok = present
    else:
        text = values.where(present, None).map(lambda v: None if v is None else str(v).strip())
        text = text.where(~text.isin(NA_STRINGS), None)
        present = text.notna()
        numbers = pd.to_numeric(text, errors="coerce").astype(float)
        parsed_ok = numbers.notna()
        if not bool((parsed_ok | ~present).all()):
            dates = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
            if bool((dates.notna() | ~present).all()):
                return dates
            if int(dates.notna().sum()) > int(parsed_ok.sum()):
                _refuse_times(text, present & dates.isna(), source, column, "ISO 8601 dates")
            _refuse_times(text, present & ~parsed_ok, source, column, "numbers")
    infinite = present & parsed_ok & ~np.isfinite(numbers.fillna(0.0))
    if bool(infinite.any()):
        _refuse_times(values, infinite, source, column, "finite numbers")
    return numbers


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _refuse_times(values: pd.Series, bad: pd.Series, source: str, column: str, kind: str) -> None:
    positions = np.flatnonzero(bad.to_numpy())
    shown = ", ".join(
        f"{row_label(source, int(p))}: {_plain(values.iloc[p])!r}" for p in positions[:5]
    )
    raise ValueError(
        f"{source}: the time column {column!r} holds {kind}, but {len(positions)} value(s) are "
        f"not: {shown}. Timestamps must all be numbers (e.g. Unix seconds) or all ISO 8601 "
        "dates/datetimes; fix or remove those rows (an unreadable timestamp would change which "
        "item is held out), or set time_column: null to use the row order."
    )


def clean_interactions(
    df: pd.DataFrame,
    user: str = "user",
    item: str = "item",
    time: str | None = "timestamp",
    source: str | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep ``[user, item, time]``, drop rows with a missing value and repeated (user, item) pairs.

    A repeated pair keeps its earliest occurrence (ties: first row): retrieval predicts *new*
    items, and a repeat of a training item as the held-out item could never be retrieved because
    evaluation excludes the user's history. Without a time column the row order is the time.
    Timestamps are parsed with :func:`parse_times` (numbers or ISO dates, for the whole column).
    Other columns (ratings, weights, ...) are not read: every row is one implicit interaction.

    Args:
        df: The interaction table.
        user, item, time: Its column names (``time=None``: the row order is the time).
        source: The file name errors and warnings give (default: the one :func:`read_table`
            recorded, else "the interaction table").

    Returns:
        ``(frame with columns user, item, time, stats)``, sorted by user then time (stable).

    Raises:
        KeyError: a named column is missing (the message lists the table's columns).
        ValueError: unreadable timestamps (file, data rows, values), user or item ids that mix
            numbers and text, or no interaction left.
    """
    source = source or source_name(df, "the interaction table")
    cols = [user, item] + ([time] if time else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(
            f"interaction columns {missing} not found in {source}; the table has "
            f"{list(df.columns)}."
        )
    out = df[cols].copy()
    out.columns = ["user", "item"] + (["time"] if time else [])
    if time:
        out["time"] = parse_times(out["time"], source, time)
    else:
        out["time"] = np.arange(len(out))
    for name, label in (("user", user), ("item", item)):
        check_id_kinds({source: out[name]}, f"{name} ({label!r})")
    n0 = len(out)
    out = out.dropna()
    n_na = n0 - len(out)
    out = out.sort_values(["user", "time"], kind="mergesort")
    n1 = len(out)
    out = out.drop_duplicates(["user", "item"], keep="first").reset_index(drop=True)
    stats = {"rows": n0, "missing_values": n_na, "duplicates": n1 - len(out)}
    if stats["duplicates"] or n_na:
        warnings.warn(
            f"interactions ({source}): dropped {n_na} row(s) with missing values and "
            f"{stats['duplicates']} repeated (user, item) pair(s) (the earliest is kept).",
            stacklevel=2,
        )
    if out.empty:
        raise ValueError(
            f"no interactions left in {source} after cleaning; check the column names and data."
        )
    return out, stats


def _id_kind(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    return "text" if isinstance(value, str) else type(value).__name__


def check_id_kinds(columns: dict[str, pd.Series], label: str) -> None:
    """Refuse ids that mix numbers and text, within a file or across files.

    A CSV column with one non-numeric id is read as text, so ``"1042"`` in one file and
    ``1042`` in another would be two different items, each with half of the data.

    Raises:
        ValueError: the sources whose ids differ in kind, with examples and the fix.
    """
    kinds: dict[str, dict[str, object]] = {}
    for source, values in columns.items():
        values = values.dropna()
        if not len(values):
            continue
        if pd.api.types.is_bool_dtype(values) or not (
            pd.api.types.is_numeric_dtype(values) or pd.api.types.is_string_dtype(values)
        ):
            sample = values.unique()  # an object column: look at every value
        else:
            sample = values.iloc[:1].to_numpy()  # one dtype for the whole column
        for v in sample:
            kinds.setdefault(_id_kind(v), {}).setdefault(source, v)
    if len(kinds) > 1:
        shown = "; ".join(
            f"{kind} in {', '.join(f'{s} (e.g. {v!r})' for s, v in where.items())}"
            for kind, where in sorted(kinds.items())
        )
        raise ValueError(
            f"{label} ids mix kinds: {shown}. A column with one non-numeric id is read as text, "
            "so the same id would count as two; make the ids of every file all numbers or all "
            "text (e.g. 'i1042')."
        )


@dataclass
class Splits:
    """Leave-last-out splits of a cleaned interaction frame (columns user, item, time)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)


def leave_last_out(df: pd.DataFrame, min_interactions: int = 3) -> Splits:
    """Per user, by time: last interaction -> test, second to last -> validation, rest -> train.

    Users with fewer than ``min_interactions`` interactions (default 3: one train, one validation,
    one test) keep all of them in training and are not evaluated — a user with a single
    interaction has no history to predict from. Equal timestamps keep the input row order.

    Raises:
        ValueError: ``min_interactions < 3``.
    """
    if min_interactions < 3:
        raise ValueError(
            f"min_interactions must be >= 3 (train, validation and test items), got "
            f"{min_interactions}."
        )
    df = df.sort_values(["user", "time"], kind="mergesort").reset_index(drop=True)
    pos_from_end = df.groupby("user", sort=False).cumcount(ascending=False)
    size = df.groupby("user", sort=False)["item"].transform("size")
    evaluated = size >= min_interactions
    test = df[evaluated & (pos_from_end == 0)]
    val = df[evaluated & (pos_from_end == 1)]
    train = df[~evaluated | (pos_from_end >= 2)]
    short = int(df.loc[~evaluated, "user"].nunique())
    if short:
        warnings.warn(
            f"leave_last_out: {short} user(s) with fewer than {min_interactions} interactions "
            "are used for training only (not evaluated).",
            stacklevel=2,
        )
    stats = {"users_train_only": short, "users_evaluated": int(test["user"].nunique())}
    return Splits(
        train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True), stats
    )


def reduce_training(train: pd.DataFrame, fraction: float, seed: int = 0) -> pd.DataFrame:
    """Keep a uniformly random ``fraction`` of the training interactions (sparse-data regime).

    Raises:
        ValueError: ``fraction`` outside ``(0, 1]``.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction}.")
    if fraction == 1.0:
        return train
    keep = np.random.default_rng(seed).random(len(train)) < fraction
    return train[keep].reset_index(drop=True)

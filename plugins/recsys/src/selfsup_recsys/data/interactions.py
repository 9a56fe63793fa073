"""Interaction tables: reading, cleaning, leave-last-out splitting and reduced-data mode."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "Splits",
    "clean_interactions",
    "leave_last_out",
    "read_table",
    "reduce_training",
]


def read_table(path: str, **csv_kwargs: object) -> pd.DataFrame:
    """Read a CSV (any pandas ``read_csv`` options) or Parquet file (by extension).

    Raises:
        FileNotFoundError: the file does not exist (the message says how to set the data root).

    Examples:
        >>> read_table("interactions.csv")  # doctest: +SKIP
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"table {path!r} not found; pass an absolute path, or a path relative to the data "
            "folder given by data_root= or the environment variable SELFSUP_DATA."
        )
    if path.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path, **csv_kwargs)  # type: ignore[arg-type]


def clean_interactions(
    df: pd.DataFrame, user: str = "user", item: str = "item", time: str | None = "timestamp"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep ``[user, item, time]``, drop rows with a missing value and repeated (user, item) pairs.

    A repeated pair keeps its earliest occurrence (ties: first row): retrieval predicts *new*
    items, and a repeat of a training item as the held-out item could never be retrieved because
    evaluation excludes the user's history. Without a time column the row order is the time.

    Returns:
        ``(frame with columns user, item, time, stats)``, sorted by user then time (stable).

    Raises:
        KeyError: a named column is missing (the message lists the table's columns).
        ValueError: no interaction left.
    """
    cols = [user, item] + ([time] if time else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(
            f"interaction columns {missing} not found; the table has {list(df.columns)}."
        )
    out = df[cols].copy()
    out.columns = ["user", "item"] + (["time"] if time else [])
    if not time:
        out["time"] = np.arange(len(out))
    n0 = len(out)
    out = out.dropna()
    n_na = n0 - len(out)
    out = out.sort_values(["user", "time"], kind="mergesort")
    n1 = len(out)
    out = out.drop_duplicates(["user", "item"], keep="first").reset_index(drop=True)
    stats = {"rows": n0, "missing_values": n_na, "duplicates": n1 - len(out)}
    if stats["duplicates"] or n_na:
        warnings.warn(
            f"interactions: dropped {n_na} row(s) with missing values and {stats['duplicates']} "
            "repeated (user, item) pair(s) (the earliest is kept).",
            stacklevel=2,
        )
    if out.empty:
        raise ValueError("no interactions left after cleaning; check the column names and data.")
    return out, stats


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

"""Embedding export: every item or user of the files, encoded with a trained model's saved
vocabularies (``selfsup embed``, :meth:`InteractionDataModule.embedding_features
<selfsup_recsys.data.InteractionDataModule.embedding_features>`)."""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from selfsup_recsys.data.feature_table import FeatureTable
from selfsup_recsys.data.interactions import check_id_kinds, source_name
from selfsup_recsys.data.item_content import align_content, read_item_content

__all__ = ["content_for_keys", "encode_entities"]


def encode_entities(
    inter: pd.DataFrame,
    frame: pd.DataFrame | None,
    column: str,
    side: str,
    vocabulary: Mapping[str, Any],
) -> tuple[list[Hashable], dict[str, Tensor], FeatureTable]:
    """``(ids, features, table)``: every id in ``column`` of the interactions ``inter`` and of
    the metadata ``frame``, sorted, encoded from ``frame`` with the saved ``vocabulary`` (a
    :meth:`FeatureTable.to_config <selfsup_recsys.data.FeatureTable.to_config>` encoding).
    ``content`` features are not included (:func:`content_for_keys`).

    Raises:
        KeyError: ``inter`` or ``frame`` lacks ``column``.
    """
    table = FeatureTable.from_config(vocabulary)
    if column not in inter.columns:
        raise KeyError(
            f"interaction column {column!r} not found; the table has {list(inter.columns)}."
        )
    sources = {source_name(inter, "the interaction table"): inter[column]}
    if frame is not None:
        if column not in frame.columns:
            raise KeyError(
                f"{side} key column {column!r} not found in "
                f"{source_name(frame, f'the {side} table')}; it has {list(frame.columns)}."
            )
        sources[source_name(frame, f"the {side} table")] = frame[column]
    check_id_kinds(sources, f"{side} ({column!r})")  # sorting mixed kinds would fail
    keys = set().union(*(set(v.dropna()) for v in sources.values()))
    ordered = sorted(keys)
    if ordered and not any(k in table.index for k in ordered):
        warnings.warn(
            f"none of the {len(ordered)} {side} ids of the files is known to the model (e.g. "
            f"{ordered[:3]} vs {table.keys[:3]}); check the id column and its type. They are "
            "embedded from their metadata alone.",
            stacklevel=3,
        )
    absent = [c for c in table.columns if frame is None or c not in frame.columns]
    if absent:
        warnings.warn(
            f"the model's {side} features {absent} are not in the {side} metadata; they are "
            "encoded as missing (unknown code / empty bag / mean).",
            stacklevel=3,
        )
    features = table.encode_keys(ordered, frame, column)
    return ordered, features, table


def content_for_keys(
    name: str,
    shape: tuple[int, ...],
    keys: Sequence[Hashable],
    path: str | None,
    key_column: str,
) -> Tensor:
    """The content feature ``name`` of ``keys`` (in order) read from ``path`` (keyed by
    ``key_column``); all NaN (every item takes its default embedding, warned) without a file.

    Raises:
        ValueError: per-item content of a shape other than ``shape``.
    """
    if path is None:
        warnings.warn(
            f"no item_content file for the model's content feature {name!r}: every item "
            "takes its default embedding.",
            stacklevel=3,
        )
        return torch.full((len(keys), *shape), float("nan"))
    content_keys, values = read_item_content(path, key_column)
    aligned = align_content(keys, content_keys, values, name)
    if tuple(aligned.shape[1:]) != tuple(shape):
        raise ValueError(
            f"content {name!r} in {path!r} has shape {tuple(aligned.shape[1:])} per item; the "
            f"model was trained on {tuple(shape)}."
        )
    return aligned

"""Encoding item / user metadata into the tensors a :class:`~selfsup_recsys.encoders.FeatureTower`
reads, with vocabularies fitted once and reusable at serving time."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from selfsup.deprecation import moved_attribute
from selfsup_recsys.batch import FeatureSpec
from selfsup_recsys.data import metadata
from selfsup_recsys.data.interactions import source_name
from selfsup_recsys.data.metadata import bag_values, category_value, is_missing

__all__ = ["FeatureTable"]

_COLUMN_KINDS = ("categorical", "bag", "numeric")
_CONFIG_KEYS = (
    "keys",
    "key_column",
    "columns",
    "id_feature",
    "bag_separator",
    "vocab",
    "stats",
    "content_shapes",
)

# moved to their own module; forwarded with a DeprecationWarning for one release
_MOVED = dict.fromkeys(
    ("numeric_values", "plain_key", "prepare_metadata"), "selfsup_recsys.data.metadata"
)


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)


class FeatureTable:
    """Rows of entities (items or users) with their encoded features.

    The first feature is the entity id ``"{id_feature}"`` (categorical, code ``row + 1``; code 0 =
    unknown id, used for entities outside the table at serving time). Metadata columns are
    encoded by kind:

    - ``categorical``: string values, vocabulary over the table's rows (most frequent first,
      codes from 1, values seen fewer than ``min_count`` times and missing values -> 0).
    - ``bag``: lists, or strings split at ``bag_separator``; values in fewer than ``min_count``
      rows are dropped; missing/empty -> an empty bag (the tower's default embedding).
    - ``numeric``: standardised with the table's mean/std; missing -> 0 (the mean); a value
      that is not a number is refused (:func:`~selfsup_recsys.data.metadata.numeric_values`).

    Entities without a metadata row get code 0, empty bags and 0 (warned at fit, with the count
    and examples). The frame is checked by
    :func:`~selfsup_recsys.data.metadata.prepare_metadata`: rows without an id are dropped
    (warned), repeated ids with equal rows keep one (warned), repeated ids whose rows disagree
    are refused.

    The fitted encoding (ids, columns, vocabularies, numeric statistics, content shapes) is plain
    data: :meth:`to_config` / :meth:`from_config` save and restore it (in a checkpoint, in an
    exported encoder's ``config.json``), so new rows are encoded exactly as at training time.

    Raw content (``content`` features: attributes, audio clips, ... for a content encoder) is
    attached after construction with :meth:`add_content`: a catalog-wide ``(M, *shape)`` tensor,
    gathered by row like every other feature; all-NaN rows mark entities without content.

    Args:
        keys: raw ids of the entities, in row order (unique).
        frame: metadata, one row per entity (``key_column`` holds the raw id), or None.
        key_column: column of ``frame`` with the raw ids.
        columns: ``{column: kind}`` to encode (default: none).
        id_feature: name of the id feature (default ``"id"``).
        bag_separator: separator of string bags (default ``"|"``).
        min_count: minimum number of rows a categorical/bag value needs (default 1).

    Raises:
        KeyError: a declared column is missing.
        ValueError: unknown kind, duplicate keys, a frame whose repeated ids disagree, or a
            numeric value that is not a number.

    Examples:
        >>> meta = pd.DataFrame({"item": ["a", "b"], "tags": ["x|y", "y"]})
        >>> table = FeatureTable(["a", "b"], meta, "item", {"tags": "bag"}, id_feature="item_id")
        >>> table.features["tags"].tolist()
        [[0, 1], [0, -1]]
        >>> FeatureTable.from_config(table.to_config()).encode(meta, "item")["tags"].tolist()
        [[0, 1], [0, -1]]
    """

    def __init__(
        self,
        keys: Sequence[Hashable],
        frame: pd.DataFrame | None = None,
        key_column: str = "id",
        columns: Mapping[str, str] | None = None,
        id_feature: str = "id",
        bag_separator: str = "|",
        min_count: int = 1,
    ) -> None:
        self.keys = list(keys)
        self.index = {k: i for i, k in enumerate(self.keys)}
        if len(self.index) != len(self.keys):
            raise ValueError("FeatureTable keys must be unique.")
        self.key_column = key_column
        self.id_feature = id_feature
        self.columns = dict(columns or {})
        self.sep = bag_separator
        bad = {c: k for c, k in self.columns.items() if k not in _COLUMN_KINDS}
        if bad:
            raise ValueError(f"column kinds must be one of {_COLUMN_KINDS}, got {bad}.")
        if frame is not None:
            source = source_name(frame, "the metadata table")
            frame = metadata.prepare_metadata(frame, key_column, self.columns, source)
            have = set(frame[key_column])
            absent = [k for k in self.keys if k not in have] if self.columns else []
            if absent:
                warnings.warn(
                    f"{len(absent)} of {len(self.keys)} entities have no feature row in {source} "
                    f"(e.g. {[metadata.plain_key(k) for k in absent[:3]]}); they get the unknown "
                    "code / empty bags / mean values.",
                    stacklevel=2,
                )
            frame = frame.set_index(key_column).reindex(pd.Index(self.keys, name=key_column))
            frame.attrs["source"] = source
        else:
            frame = pd.DataFrame(index=pd.Index(self.keys))
            if self.columns:
                raise KeyError(f"columns {list(self.columns)} declared but no feature frame given.")
        self.vocab: dict[str, dict[str, int]] = {}
        self.stats: dict[str, tuple[float, float]] = {}
        for col, kind in self.columns.items():
            if kind == "numeric":
                x = metadata.numeric_values(
                    frame[col], col, source_name(frame, "the metadata table")
                )
                ok = x[~np.isnan(x)]
                mean = float(ok.mean()) if ok.size else 0.0
                std = float(ok.std()) if ok.size > 1 else 1.0
                self.stats[col] = (mean, std if std > 0 else 1.0)
                continue
            counts: Counter[str] = Counter()
            for v in frame[col]:
                if kind == "bag":
                    counts.update(set(bag_values(v, self.sep)))
                elif not is_missing(v):
                    counts[category_value(v)] += 1
            kept = [
                v for v, c in sorted(counts.items(), key=lambda t: (-t[1], t[0])) if c >= min_count
            ]
            offset = 1 if kind == "categorical" else 0
            self.vocab[col] = {v: i + offset for i, v in enumerate(kept)}
        self.content_shapes: dict[str, tuple[int, ...]] = {}
        self.features = self.encode(frame.reset_index(), key_column=frame.index.name or "index")

    def add_content(self, name: str, values: Tensor) -> None:
        """Attach a ``content`` feature: ``values`` ``(len(self), *shape)`` in row order (see
        :func:`~selfsup_recsys.data.item_content.align_content`).

        Raises:
            ValueError: a name already taken, or a row count other than the table's.
        """
        if name in self.features:
            raise ValueError(f"feature {name!r} already exists in this table.")
        if values.dim() < 2 or len(values) != len(self.keys):
            raise ValueError(
                f"content {name!r} needs shape ({len(self.keys)}, ...), got {tuple(values.shape)}."
            )
        self.content_shapes[name] = tuple(values.shape[1:])
        self.features[name] = values.float()

    def to_config(self) -> dict[str, Any]:
        """The fitted encoding as JSON data (the rows' encoded features are not included).

        Raises:
            ValueError: a raw id that is neither a string nor a number (JSON cannot hold it).
        """
        keys = [metadata.plain_key(k) for k in self.keys]
        bad = [k for k in keys if not isinstance(k, str | int | float) or isinstance(k, bool)]
        if bad:
            raise ValueError(
                f"ids must be strings or numbers to be saved, got {bad[:3]} "
                f"({type(bad[0]).__name__}); convert the id column with .astype(str)."
            )
        return {
            "keys": keys,
            "key_column": self.key_column,
            "columns": dict(self.columns),
            "id_feature": self.id_feature,
            "bag_separator": self.sep,
            "vocab": {col: dict(v) for col, v in self.vocab.items()},
            "stats": {col: [float(m), float(s)] for col, (m, s) in self.stats.items()},
            "content_shapes": {k: list(v) for k, v in self.content_shapes.items()},
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FeatureTable:
        """The table :meth:`to_config` described, ready to :meth:`encode` new rows.

        It holds no rows' features (:meth:`gather` raises): encode metadata with
        :meth:`encode`.

        Raises:
            ValueError: a config without the keys :meth:`to_config` writes.
        """
        missing = [k for k in _CONFIG_KEYS if k not in config]
        if missing:
            raise ValueError(f"a FeatureTable config needs {missing} (see FeatureTable.to_config).")
        bad = {c: k for c, k in dict(config["columns"]).items() if k not in _COLUMN_KINDS}
        if bad:
            raise ValueError(
                f"a saved FeatureTable config has columns of unknown kinds {bad}; kinds are "
                f"{_COLUMN_KINDS}."
            )
        table = cls.__new__(cls)
        table.keys = list(config["keys"])
        table.index = {k: i for i, k in enumerate(table.keys)}
        table.key_column = str(config["key_column"])
        table.id_feature = str(config["id_feature"])
        table.columns = dict(config["columns"])
        table.sep = str(config["bag_separator"])
        table.vocab = {
            col: {str(v): int(c) for v, c in m.items()} for col, m in config["vocab"].items()
        }
        table.stats = {col: (float(m), float(s)) for col, (m, s) in config["stats"].items()}
        table.content_shapes = {k: tuple(v) for k, v in config["content_shapes"].items()}
        table.features = {}
        return table

    @property
    def specs(self) -> list[FeatureSpec]:
        """Declarations of the encoded features (id first, then ``columns`` in order)."""
        out = [FeatureSpec(self.id_feature, "categorical", len(self.keys) + 1)]
        for col, kind in self.columns.items():
            if kind == "categorical":
                out.append(FeatureSpec(col, kind, len(self.vocab[col]) + 1))
            elif kind == "bag":
                out.append(FeatureSpec(col, kind, max(len(self.vocab[col]), 1)))
            else:
                out.append(FeatureSpec(col, kind))
        for name, shape in self.content_shapes.items():
            out.append(FeatureSpec(name, "content", shape=shape))
        return out

    def __len__(self) -> int:
        return len(self.keys)

    def encode(self, frame: pd.DataFrame, key_column: str | None = None) -> dict[str, Tensor]:
        """Encode metadata rows with the fitted vocabularies (new entities: id code 0).

        ``key_column`` defaults to the table's own (the constructor's ``key_column``); columns
        missing from ``frame`` count as missing values.

        Shapes:
            ``len(frame)`` rows; bags padded with ``-1`` to the longest bag (at least width 1).

        Raises:
            ValueError: a numeric value that is not a number (missing ones get the mean).
        """
        keys = list(frame[key_column or self.key_column])
        ids = [self.index.get(k, -1) + 1 for k in keys]
        out = {self.id_feature: torch.tensor(ids, dtype=torch.long)}
        source = source_name(frame, "the rows to encode")
        for col, kind in self.columns.items():
            values = frame[col] if col in frame.columns else pd.Series([None] * len(frame))
            if kind == "numeric":
                mean, std = self.stats[col]
                x = metadata.numeric_values(values, col, source, keys)
                x = np.where(np.isnan(x), 0.0, (x - mean) / std)
                out[col] = torch.tensor(x, dtype=torch.float32)
            elif kind == "categorical":
                vocab = self.vocab[col]
                codes = [0 if is_missing(v) else vocab.get(category_value(v), 0) for v in values]
                out[col] = torch.tensor(codes, dtype=torch.long)
            else:
                vocab = self.vocab[col]
                bags = [
                    sorted({vocab[t] for t in bag_values(v, self.sep) if t in vocab})
                    for v in values
                ]
                width = max([len(b) for b in bags] + [1])
                padded = torch.full((len(bags), width), -1, dtype=torch.long)
                for i, b in enumerate(bags):
                    padded[i, : len(b)] = torch.tensor(b, dtype=torch.long)
                out[col] = padded
        # new entities carry no content here: NaN rows, i.e. the content default embedding
        for name, shape in getattr(self, "content_shapes", {}).items():
            out[name] = torch.full((len(frame), *shape), float("nan"))
        return out

    def encode_keys(
        self, keys: Sequence[Hashable], frame: pd.DataFrame | None, key_column: str | None = None
    ) -> dict[str, Tensor]:
        """Encode the entities ``keys`` (in that order) from their metadata rows in ``frame``.

        Like the constructor: the first row of a repeated key counts, a key without a row gets
        code 0 / empty bags / the mean; keys outside this table get id code 0 (:meth:`encode`).

        Raises:
            KeyError: ``frame`` has no ``key_column``.
            ValueError: as :func:`~selfsup_recsys.data.metadata.prepare_metadata` (repeated ids
                that disagree, non-numbers).
        """
        key_column = key_column or self.key_column
        if frame is None:
            return self.encode(pd.DataFrame({key_column: list(keys)}), key_column)
        if key_column not in frame.columns:
            raise KeyError(
                f"key column {key_column!r} not found; the table has {list(frame.columns)}."
            )
        source = source_name(frame, "the metadata table")
        columns = {c: k for c, k in self.columns.items() if c in frame.columns}
        aligned = metadata.prepare_metadata(frame, key_column, columns, source).set_index(
            key_column
        )
        aligned = aligned.reindex(pd.Index(list(keys), name=key_column)).reset_index()
        aligned.attrs["source"] = source
        return self.encode(aligned, key_column)

    def rows(self, raw_ids: Sequence[Hashable], unknown: str = "error") -> Tensor:
        """Row indices of raw ids; unknown ids raise (``"error"``) or map to ``-1`` (``"skip"``).

        Raises:
            KeyError: an unknown id with ``unknown="error"``.
        """
        rows = [self.index.get(k, -1) for k in raw_ids]
        if unknown == "error" and -1 in rows:
            bad = [k for k, r in zip(raw_ids, rows, strict=True) if r < 0][:5]
            raise KeyError(
                f"unknown id(s) {bad}: not in the table of {len(self.keys)} entities; encode new "
                "entities from their metadata with FeatureTable.encode (id code 0) instead."
            )
        return torch.tensor(rows, dtype=torch.long)

    def gather(self, rows: Tensor) -> dict[str, Tensor]:
        """Feature tensors of the given rows.

        Raises:
            RuntimeError: a table rebuilt by :meth:`from_config` (it has no rows' features).
        """
        if not self.features:
            raise RuntimeError(
                "this FeatureTable was rebuilt from its saved encoding and holds no rows; encode "
                "metadata rows with FeatureTable.encode(frame, key_column) instead."
            )
        return {k: v[rows] for k, v in self.features.items()}

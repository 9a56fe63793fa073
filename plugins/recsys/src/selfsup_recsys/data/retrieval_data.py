"""``RetrievalData``: encoded catalog, users and leave-last-out splits; batching and scoring."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from selfsup.losses import matryoshka_prefix
from selfsup_recsys.augment.mutual_information import feature_mutual_information
from selfsup_recsys.data.feature_table import FeatureTable
from selfsup_recsys.data.interactions import (
    check_id_kinds,
    clean_interactions,
    leave_last_out,
    reduce_training,
    source_name,
)
from selfsup_recsys.data.item_content import ContentSource, align_content, read_item_content
from selfsup_recsys.data.metadata import plain_key, prepare_metadata
from selfsup_recsys.evaluation import evaluate_retrieval
from selfsup_recsys.frequency import count_log_prob

__all__ = ["RetrievalData", "build_retrieval_data"]


@dataclass
class RetrievalData:
    """Everything a two-tower experiment needs, as tensors.

    Attributes:
        items, users: encoded feature tables (row = catalog index / user index).
        train: ``(N, 2)`` int64 (user row, item row) training pairs (after ``train_fraction``).
        val, test: ``(V, 2)``, ``(T, 2)`` held-out pairs (one per evaluated user).
        history: per user row, the item rows of *all* its training interactions (also those
            dropped by ``train_fraction``): excluded from that user's retrieval lists.
        train_counts: ``(M,)`` training interactions per item (kept pairs): logQ by counts and
            the head/tail cut.
        item_mi: ``(k, k)`` mutual information between item features over the catalog (CFM).
        stats: counts of dropped rows, users, items.
    """

    items: FeatureTable
    users: FeatureTable
    train: Tensor
    val: Tensor
    test: Tensor
    history: list[Tensor]
    train_counts: Tensor
    item_mi: Tensor
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def num_items(self) -> int:
        return len(self.items)

    def item_log_prob(self) -> Tensor:
        """``log p_j`` of every catalog item from training counts (add-one smoothed)."""
        return count_log_prob(self.train_counts)

    def batch(
        self,
        pairs: Tensor,
        ssl_items: Tensor | None = None,
        item_log_prob: Tensor | None = None,
    ) -> dict[str, Any]:
        """A :class:`~selfsup_recsys.methods.FeatureTwoTower` batch of ``(user, item)`` pairs.

        Shapes:
            pairs ``(B, 2)``; ssl_items ``(N,)`` catalog rows; item_log_prob ``(M,)``.
        """
        users, items = pairs[:, 0], pairs[:, 1]
        out: dict[str, Any] = {
            "query": self.users.gather(users),
            "item": self.items.gather(items),
            "item_ids": items,
        }
        if item_log_prob is not None:
            out["item_log_prob"] = item_log_prob[items]
        if ssl_items is not None:
            out["ssl_item"] = self.items.gather(ssl_items)
        return out

    def seen(self, split: str) -> list[Tensor]:
        """Items to exclude per held-out row: the history, plus the validation item for test."""
        pairs = self.val if split == "val" else self.test
        extra: dict[int, int] = {}
        if split == "test":
            extra = {int(u): int(i) for u, i in self.val.tolist()}
        out = []
        for u in pairs[:, 0].tolist():
            h = self.history[u]
            out.append(torch.cat([h, torch.tensor([extra[u]])]) if u in extra else h)
        return out

    @torch.no_grad()
    def evaluate(
        self,
        method: Any,
        split: str = "test",
        ks: tuple[int, ...] = (10, 50),
        head_fraction: float = 0.2,
        batch_size: int = 4096,
        dim: int | None = None,
    ) -> dict[str, float]:
        """Full-corpus Recall/NDCG@K of ``method`` (any object with ``query_embeddings`` and
        ``item_embeddings``) on ``"val"`` or ``"test"``, overall, head and tail; with ``dim``,
        of the first ``dim`` features of both vectors, L2-normalised (a Matryoshka prefix,
        :func:`selfsup.losses.matryoshka_prefix`)."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}.")
        was_training = getattr(method, "training", False)
        if hasattr(method, "eval"):
            method.eval()
        try:
            rows = torch.arange(self.num_items)
            items = torch.cat(
                [method.item_embeddings(self.items.gather(r)) for r in rows.split(batch_size)]
            )
            pairs = self.val if split == "val" else self.test
            queries = torch.cat(
                [
                    method.query_embeddings(self.users.gather(u))
                    for u in pairs[:, 0].split(batch_size)
                ]
            )
        finally:
            if was_training:
                method.train()
        if dim is not None:
            queries, items = matryoshka_prefix(queries, dim), matryoshka_prefix(items, dim)
        return evaluate_retrieval(
            queries, items, pairs[:, 1], self.seen(split), self.train_counts, ks, head_fraction
        )

    def popularity(
        self, split: str = "test", ks: tuple[int, ...] = (10, 50), head_fraction: float = 0.2
    ) -> dict[str, float]:
        """The most-popular baseline: every user gets the items by training count."""
        pairs = self.val if split == "val" else self.test
        counts = self.train_counts.double()[:, None]
        queries = torch.ones(len(pairs), 1, dtype=torch.float64)
        return evaluate_retrieval(
            queries, counts, pairs[:, 1], self.seen(split), self.train_counts, ks, head_fraction
        )


def _metadata(
    frame: pd.DataFrame,
    ids: pd.Series,
    inter_source: str,
    key_column: str,
    columns: Mapping[str, str] | None,
    side: str,
) -> pd.DataFrame:
    """A checked metadata table (:func:`prepare_metadata`) whose ids are of the interactions'
    kind and cover at least one of their ids."""
    source = source_name(frame, f"the {side} table")
    if key_column not in frame.columns:
        raise KeyError(
            f"{side} key column {key_column!r} not found in {source}; the table has "
            f"{list(frame.columns)}."
        )
    check_id_kinds({inter_source: ids, source: frame[key_column]}, f"{side} ({key_column!r})")
    out = prepare_metadata(frame, key_column, columns, source)
    out.attrs["source"] = source
    known = set(out[key_column])
    if columns and len(out) and not any(k in known for k in ids.unique()):
        raise ValueError(
            f"none of the {ids.nunique()} {side} ids of {inter_source} has a row in {source} (e.g. "
            f"{[plain_key(k) for k in ids.unique()[:3]]} vs "
            f"{[plain_key(k) for k in out[key_column].iloc[:3]]}); check that {key_column!r} "
            "holds the same ids in both files."
        )
    return out


def build_retrieval_data(
    interactions: pd.DataFrame,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    *,
    user_column: str = "user",
    item_column: str = "item",
    time_column: str | None = "timestamp",
    item_columns: Mapping[str, str] | None = None,
    user_columns: Mapping[str, str] | None = None,
    train_fraction: float = 1.0,
    seed: int = 0,
    min_interactions: int = 3,
    min_count: int = 1,
    item_content: Mapping[str, ContentSource] | None = None,
    item_content_key: str | None = None,
) -> RetrievalData:
    """Clean, split (leave-last-out), reduce and encode an interaction table and its metadata.

    The catalog is every item of ``items`` and of ``interactions``; items only in validation or
    test (cold items) are in it with their metadata. Metadata tables are checked with
    :func:`~selfsup_recsys.data.metadata.prepare_metadata` (rows without an id dropped and
    warned, repeated ids that disagree refused); their ids must be of the same kind (numbers
    or text) as the interactions' and cover at least one of them, and interaction ids without
    a metadata row are warned with a count. ``items``/``users`` are keyed by
    ``item_column``/``user_column``. ``item_content`` maps a ``content`` feature name to a file
    (:func:`~selfsup_recsys.data.item_content.read_item_content`, key column
    ``item_content_key``, default ``item_column``) or to loaded ``(keys, values)``; the rows are
    aligned to the catalog and gathered by item row like the metadata features.

    Raises:
        KeyError, ValueError, FileNotFoundError: from the cleaning/splitting/encoding steps
            (each names the file and, where there is one, the row and value).
    """
    inter_source = source_name(interactions, "the interaction table")
    clean, clean_stats = clean_interactions(interactions, user_column, item_column, time_column)
    if items is not None:
        items = _metadata(items, clean["item"], inter_source, item_column, item_columns, "item")
    if users is not None:
        users = _metadata(users, clean["user"], inter_source, user_column, user_columns, "user")
    splits = leave_last_out(clean, min_interactions)
    kept = reduce_training(splits.train, train_fraction, seed)
    item_keys = sorted(
        set(clean["item"]) | (set(items[item_column]) if items is not None else set())
    )
    user_keys = sorted(
        set(clean["user"]) | (set(users[user_column]) if users is not None else set())
    )
    item_table = FeatureTable(
        item_keys, items, item_column, item_columns, id_feature="item_id", min_count=min_count
    )
    for name, source in (item_content or {}).items():
        if isinstance(source, tuple):
            keys, values = source
        else:
            keys, values = read_item_content(source, item_content_key or item_column)
        item_table.add_content(name, align_content(item_keys, keys, values, name))
    user_table = FeatureTable(
        user_keys, users, user_column, user_columns, id_feature="user_id", min_count=min_count
    )

    def pairs(df: pd.DataFrame) -> Tensor:
        u = user_table.rows(list(df["user"]))
        i = item_table.rows(list(df["item"]))
        return torch.stack([u, i], dim=1) if len(df) else torch.zeros(0, 2, dtype=torch.long)

    full_train = pairs(splits.train)
    history = [torch.zeros(0, dtype=torch.long) for _ in user_keys]
    if len(full_train):
        order = torch.argsort(full_train[:, 0], stable=True)
        users_sorted, items_sorted = full_train[order, 0], full_train[order, 1]
        counts = torch.bincount(users_sorted, minlength=len(user_keys)).tolist()
        for u, chunk in enumerate(items_sorted.split(counts)):
            history[u] = chunk
    train = pairs(kept)
    train_counts = torch.bincount(train[:, 1], minlength=len(item_keys))
    mi = feature_mutual_information(item_table.features, item_table.specs)
    stats = {
        **clean_stats,
        **splits.stats,
        "train": len(train),
        "train_full": len(full_train),
        "val": len(splits.val),
        "test": len(splits.test),
        "items": len(item_keys),
        "users": len(user_keys),
        "items_without_training": int((train_counts == 0).sum()),
    }
    return RetrievalData(
        item_table, user_table, train, pairs(splits.val), pairs(splits.test), history,
        train_counts, mi, stats,
    )  # fmt: skip

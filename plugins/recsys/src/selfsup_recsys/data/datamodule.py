"""``InteractionDataModule``: interactions + metadata -> two-tower batches for ``selfsup fit``."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader

from selfsup_recsys.data.interactions import default_data_root, read_table
from selfsup_recsys.data.movielens import ITEM_COLUMNS, USER_COLUMNS, load_movielens_100k
from selfsup_recsys.data.retrieval_data import RetrievalData, build_retrieval_data

__all__ = ["InteractionDataModule"]

_DATASETS = ("movielens-100k", "interactions")


class _Collate:
    """Turns a list of pair indices into a batch; draws the SSL items uniformly from the catalog."""

    def __init__(
        self,
        data: RetrievalData,
        pairs: Tensor,
        ssl_batch_size: int,
        log_prob: Tensor | None,
        seed: int,
    ) -> None:
        self.data, self.pairs, self.ssl_batch_size = data, pairs, ssl_batch_size
        self.log_prob = log_prob
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, idx: list[int]) -> dict[str, Any]:
        pairs = self.pairs[torch.as_tensor(idx, dtype=torch.long)]
        ssl = None
        if self.ssl_batch_size:
            m = self.data.num_items
            if self.ssl_batch_size <= m:  # without replacement: no duplicate SSL items
                ssl = torch.randperm(m, generator=self.generator)[: self.ssl_batch_size]
            else:
                ssl = torch.randint(m, (self.ssl_batch_size,), generator=self.generator)
        return self.data.batch(pairs, ssl, self.log_prob)


class InteractionDataModule(LightningDataModule):
    """Leave-last-out two-tower data: MovieLens-100K or any interaction table.

    ``setup`` loads and encodes the data (:func:`~selfsup_recsys.data.build_retrieval_data`) and,
    when attached to a ``selfsup fit`` run, hands the feature declarations and the item-feature
    mutual information to its task's method (``method.materialize``). Training batches are
    shuffled (user, item) pairs plus ``"ssl_item"``: ``ssl_batch_size`` catalog items drawn
    uniformly (without replacement), independently of the pairs — the SSL distribution of Yao et
    al. Validation batches hold the (user, second-to-last item) pairs; :meth:`evaluate` gives
    full-corpus Recall/NDCG.

    Args:
        dataset: ``"movielens-100k"`` (default; ``path`` = the ``ml-100k`` folder) or
            ``"interactions"`` (``path`` = a CSV/Parquet table).
        path: relative to ``data_root`` or absolute (default ``"movielens-100k/ml-100k"``).
        data_root: default ``$SELFSUP_DATA``, else ``../shared/data``.
        item_features_path, user_features_path: metadata tables (``"interactions"`` only).
        user_column, item_column, time_column: column names (default user, item, timestamp).
        item_columns, user_columns: ``{column: "categorical" | "bag" | "numeric"}`` metadata to
            encode (``"interactions"`` only; MovieLens uses genres/year/title words and
            age/gender/occupation/zip).
        item_content: ``{feature: file}`` raw per-item content for content encoders (``.csv``,
            ``.parquet``, ``.pt`` or ``.npz`` keyed by item id, see
            :mod:`selfsup_recsys.data.item_content`); paths as for ``path``. Each becomes a
            ``content`` item feature, gathered by item row into every batch.
        item_content_key: key column of CSV/Parquet content files (default ``item_column``).
        train_fraction: share of training interactions kept (default 1.0).
        min_interactions: users with fewer interactions are training-only (default 3).
        min_count: minimum rows per categorical/bag value (default 2).
        batch_size: training pairs per batch (default 512; last incomplete batch dropped).
        ssl_batch_size: uniform SSL items per batch (default None: ``batch_size``; 0: none).
        logq_counts: add ``"item_log_prob"`` from training counts (for ``logq="batch"``).
        seed: seed of the reduction, shuffling and SSL sampling (default 0).

    Raises:
        FileNotFoundError: data missing (the message says how to set the data root).
        ValueError: unknown ``dataset``.
    """

    def __init__(
        self,
        dataset: str = "movielens-100k",
        path: str = "movielens-100k/ml-100k",
        data_root: str | None = None,
        item_features_path: str | None = None,
        user_features_path: str | None = None,
        user_column: str = "user",
        item_column: str = "item",
        time_column: str | None = "timestamp",
        item_columns: dict[str, str] | None = None,
        user_columns: dict[str, str] | None = None,
        item_content: dict[str, str] | None = None,
        item_content_key: str | None = None,
        train_fraction: float = 1.0,
        min_interactions: int = 3,
        min_count: int = 2,
        batch_size: int = 512,
        ssl_batch_size: int | None = None,
        logq_counts: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if dataset not in _DATASETS:
            raise ValueError(f"dataset must be one of {_DATASETS}, got {dataset!r}.")
        if not 0.0 < train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}.")
        self.dataset = dataset
        self.path = path
        self.data_root = data_root
        self.item_features_path = item_features_path
        self.user_features_path = user_features_path
        self.columns = (user_column, item_column, time_column)
        self.item_columns = item_columns
        self.user_columns = user_columns
        self.item_content = dict(item_content or {})
        self.item_content_key = item_content_key
        self.train_fraction = train_fraction
        self.min_interactions = min_interactions
        self.min_count = min_count
        self.batch_size = batch_size
        self.ssl_batch_size = batch_size if ssl_batch_size is None else ssl_batch_size
        self.logq_counts = logq_counts
        self.seed = seed
        self.data: RetrievalData | None = None
        self._epoch = 0

    def resolve(self, path: str) -> str:
        """Absolute path: as is, or under the data root."""
        return (
            path
            if os.path.isabs(path)
            else os.path.join(self.data_root or default_data_root(), path)
        )

    def load(self) -> RetrievalData:
        """Read and encode the data (cached)."""
        if self.data is not None:
            return self.data
        user, item, time = self.columns
        if self.dataset == "movielens-100k":
            inter, items, users = load_movielens_100k(self.resolve(self.path))
            kw: dict[str, Any] = {"item_columns": ITEM_COLUMNS, "user_columns": USER_COLUMNS}
            user, item, time = "user", "item", "timestamp"
        else:
            inter = read_table(self.resolve(self.path))
            items = (
                read_table(self.resolve(self.item_features_path))
                if self.item_features_path
                else None
            )
            users = (
                read_table(self.resolve(self.user_features_path))
                if self.user_features_path
                else None
            )
            kw = {"item_columns": self.item_columns, "user_columns": self.user_columns}
        self.data = build_retrieval_data(
            inter, items, users, user_column=user, item_column=item, time_column=time,
            train_fraction=self.train_fraction, seed=self.seed,
            min_interactions=self.min_interactions, min_count=self.min_count,
            item_content={k: self.resolve(v) for k, v in self.item_content.items()},
            item_content_key=self.item_content_key or item,
            **kw,
        )  # fmt: skip
        return self.data

    def setup(self, stage: str | None = None) -> None:
        data = self.load()
        trainer = getattr(self, "trainer", None)
        module = getattr(trainer, "lightning_module", None) if trainer is not None else None
        for task in (getattr(module, "tasks", None) or {}).values():
            if task.data is self and hasattr(task.method, "materialize"):
                task.method.materialize(data.users.specs, data.items.specs, data.item_mi)

    def _chunks(self, n: int, shuffle: bool) -> list[list[int]]:
        if shuffle:
            order = np.random.default_rng(self.seed + self._epoch).permutation(n)
            self._epoch += 1
            return [
                order[i : i + self.batch_size].tolist()
                for i in range(0, n - self.batch_size + 1, self.batch_size)
            ]
        # near-equal chunks: never a 1-row batch (in-batch negatives need 2)
        parts = max(1, math.ceil(n / self.batch_size))
        return [c.tolist() for c in np.array_split(np.arange(n), parts) if len(c)]

    def _loader(self, pairs: Tensor, train: bool) -> DataLoader:
        data = self.load()
        if len(pairs) < 2:
            raise RuntimeError(f"only {len(pairs)} pair(s) in this split; need at least 2.")
        log_prob = data.item_log_prob() if self.logq_counts else None
        collate = _Collate(
            data, pairs, self.ssl_batch_size if train else 0, log_prob, self.seed + int(train)
        )
        if train and len(pairs) < self.batch_size:
            raise RuntimeError(
                f"{len(pairs)} training pairs is fewer than batch_size={self.batch_size}; lower it."
            )
        return DataLoader(_Batches(self, len(pairs), train), batch_size=None, collate_fn=collate)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.load().train, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.load().val, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.load().test, train=False)

    def evaluate(
        self, method: Any, split: str = "val", head_fraction: float = 0.2
    ) -> dict[str, float]:
        """Full-corpus Recall/NDCG@{10, 50} (overall, head, tail) of ``method`` on a split."""
        return self.load().evaluate(method, split, head_fraction=head_fraction)


class _Batches(torch.utils.data.IterableDataset):
    """Yields lists of pair indices: reshuffled every epoch for training."""

    def __init__(self, module: InteractionDataModule, n: int, shuffle: bool) -> None:
        self.module, self.n, self.shuffle = module, n, shuffle

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self.module._chunks(self.n, self.shuffle)

    def __len__(self) -> int:
        if self.shuffle:
            return self.n // self.module.batch_size
        return max(1, math.ceil(self.n / self.module.batch_size))

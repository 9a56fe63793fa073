"""``InteractionDataModule``: interactions + metadata -> two-tower batches for ``selfsup fit``."""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader

from selfsup.data.roots import resolve_data_root
from selfsup.deprecation import moved_attribute
from selfsup_recsys.data.batching import PairCollate, embedding_rows_loader
from selfsup_recsys.data.embedding_export import content_for_keys, encode_entities
from selfsup_recsys.data.interactions import read_table
from selfsup_recsys.data.movielens import ITEM_COLUMNS, USER_COLUMNS, load_movielens_100k
from selfsup_recsys.data.retrieval_data import RetrievalData, build_retrieval_data

__all__ = ["InteractionDataModule"]

# moved to its own module; forwarded with a DeprecationWarning for one release
_MOVED = {"embedding_ids": "selfsup_recsys.data.batching"}


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)


_DATASETS = ("movielens-100k", "interactions")
_SIDES = ("item", "query")


class InteractionDataModule(LightningDataModule):
    """Leave-last-out two-tower data: MovieLens-100K or any interaction table.

    ``setup`` loads and encodes the data (:func:`~selfsup_recsys.data.build_retrieval_data`);
    :meth:`feature_schema` then gives the feature declarations, the item-feature mutual
    information and the fitted encodings (vocabularies), which a ``selfsup fit`` task's method
    takes in ``Method.bind_data`` (``FeatureTwoTower.materialize``). The module never looks for
    the method: it needs no trainer. Training batches are shuffled (user, item) pairs plus
    ``"ssl_item"``: ``ssl_batch_size`` catalog items drawn uniformly (without replacement),
    independently of the pairs — the SSL distribution of Yao et al. Validation batches hold the
    (user, second-to-last item) pairs; :meth:`evaluate` gives full-corpus Recall/NDCG.

    **Embedding** (``selfsup embed``): :meth:`predict_dataloader` yields
    :class:`~selfsup.data.EmbeddingBatch` es over every item of the files (``predict_side=
    "item"``: ids = the raw item ids, inputs ``{"item": features}``) or every user
    (``"query"``: raw user ids, ``{"query": features}``), in sorted id order, each once. The
    features are encoded with the vocabularies saved in the model being embedded, which its
    ``bind_data(dm, "predict")`` hands over (:meth:`use_model_vocabularies`; ``selfsup embed``
    calls it after loading the checkpoint), never re-fitted: items or users added to the files
    since training get the unknown-id code and are embedded from their other features.
    :meth:`embedding_loader` takes the vocabularies explicitly.

    Args:
        dataset: ``"movielens-100k"`` (default; ``path`` = the ``ml-100k`` folder) or
            ``"interactions"`` (``path`` = a CSV/Parquet table).
        path: relative to the data folder, or absolute (default ``"movielens-100k/ml-100k"``).
        data_root: the data folder relative paths are read from (default: the environment
            variable ``SELFSUP_DATA``; there is no other default). Not needed when every path
            is absolute.
        item_features_path, user_features_path: metadata tables (``"interactions"`` only).
        user_column, item_column, time_column: column names (default user, item, timestamp;
            ``time_column=None``: the row order is the time).
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
        batch_size: training pairs per batch, and rows per embedding batch (default 512; the
            last incomplete training batch is dropped, no embedding row is).
        ssl_batch_size: uniform SSL items per batch (default None: ``batch_size``; 0: none).
        logq_counts: add ``"item_log_prob"`` from training counts (for ``logq="batch"``).
        seed: seed of the reduction, shuffling and SSL sampling (default 0).
        predict_side: which tower :meth:`predict_dataloader` feeds: ``"item"`` (default, the
            vectors of an ANN index) or ``"query"`` (user vectors).

    Raises:
        DataRootError: a relative path without ``data_root`` or ``SELFSUP_DATA`` (the message
            names both), or a data folder that does not exist (a ``FileNotFoundError``).
        FileNotFoundError: a missing file.
        ValueError: unknown ``dataset`` or ``predict_side``.

    Examples:
        >>> dm = InteractionDataModule(dataset="interactions", path="interactions.csv",
        ...                            data_root="my_data", item_columns={"genre": "categorical"})
        >>> dm.predict_side
        'item'
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
        predict_side: str = "item",
    ) -> None:
        super().__init__()
        if dataset not in _DATASETS:
            raise ValueError(f"dataset must be one of {_DATASETS}, got {dataset!r}.")
        if not 0.0 < train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}.")
        if predict_side not in _SIDES:
            raise ValueError(
                f"predict_side must be 'item' (item vectors for an index) or 'query' (user "
                f"vectors), got {predict_side!r}."
            )
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
        self.predict_side = predict_side
        self.data: RetrievalData | None = None
        self._epoch = 0
        # what predict encodes with, handed over by the embedded model (use_model_vocabularies)
        self._model_vocabularies: dict[str, dict[str, Any]] | None = None
        self._model_specs: dict[str, tuple[Any, ...]] | None = None

    def resolve(self, path: str) -> str:
        """Absolute path: as is, or under the data folder (``data_root``, else ``SELFSUP_DATA``).

        Raises:
            DataRootError: a relative path and no data folder, or a folder that does not exist.
        """
        if os.path.isabs(path):
            return path
        root = resolve_data_root(self.data_root, owner=type(self).__name__, parameter="data_root")
        return str(root / path)

    def _frames(self) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None, dict]:
        """``(interactions, items, users, build_retrieval_data keywords)`` as read from disk."""
        user, item, time = self.columns
        if self.dataset == "movielens-100k":
            inter, items, users = load_movielens_100k(self.resolve(self.path))
            user, item, time = "user", "item", "timestamp"
            kw: dict[str, Any] = {"item_columns": ITEM_COLUMNS, "user_columns": USER_COLUMNS}
        else:
            inter = read_table(self.resolve(self.path))
            items = users = None
            if self.item_features_path:
                items = read_table(self.resolve(self.item_features_path))
            if self.user_features_path:
                users = read_table(self.resolve(self.user_features_path))
            kw = {"item_columns": self.item_columns, "user_columns": self.user_columns}
        kw.update(user_column=user, item_column=item, time_column=time)
        return inter, items, users, kw

    def load(self) -> RetrievalData:
        """Read and encode the data (cached)."""
        if self.data is not None:
            return self.data
        inter, items, users, kw = self._frames()
        self.data = build_retrieval_data(
            inter, items, users, train_fraction=self.train_fraction, seed=self.seed,
            min_interactions=self.min_interactions, min_count=self.min_count,
            item_content={k: self.resolve(v) for k, v in self.item_content.items()},
            item_content_key=self.item_content_key or kw["item_column"],
            **kw,
        )  # fmt: skip
        return self.data

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            # `selfsup embed` rebuilt the model from its checkpoint: nothing to fit, and
            # predict_dataloader encodes with the model's saved vocabularies, not re-fitted ones
            return
        self.load()

    def feature_schema(self) -> dict[str, Any]:
        """What a feature-based model is built from, fitted on the files (:meth:`load`).

        ``FeatureTwoTower.bind_data`` passes it to ``FeatureTwoTower.materialize``.

        Returns:
            ``{"query_features": [FeatureSpec, ...], "item_features": [...],
            "mutual_information": (k, k) tensor over the k item features, "tables": {"query":
            ..., "item": ...}}`` with :meth:`FeatureTable.to_config
            <selfsup_recsys.data.FeatureTable.to_config>` encodings (JSON data).

        Examples:
            >>> schema = dm.feature_schema()  # doctest: +SKIP
            >>> FeatureTwoTower().materialize(**schema).materialized  # doctest: +SKIP
            True
        """
        data = self.load()
        return {
            "query_features": list(data.users.specs),
            "item_features": list(data.items.specs),
            "mutual_information": data.item_mi,
            "tables": {"query": data.users.to_config(), "item": data.items.to_config()},
        }

    # -- embedding -------------------------------------------------------------------------------
    def use_model_vocabularies(
        self,
        vocabularies: Mapping[str, Mapping[str, Any]] | None,
        specs: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        """Encode :meth:`predict_dataloader`'s rows as the model being embedded was trained.

        ``vocabularies`` are its saved ``{"query": ..., "item": ...}`` encodings (a
        ``FeatureTwoTower``'s :attr:`~selfsup_recsys.methods.FeatureTwoTower.feature_tables`;
        ``None`` for a model without them: the tables fitted on the files are used), ``specs``
        its towers' feature declarations ``{"query": [...], "item": [...]}`` (checked against
        the fitted ones when there are no vocabularies). ``FeatureTwoTower.bind_data(dm,
        "predict")`` calls this; the last call wins.

        Examples:
            >>> dm.use_model_vocabularies(method.feature_tables)  # doctest: +SKIP
            >>> batches = list(dm.predict_dataloader())  # doctest: +SKIP
        """
        self._model_vocabularies = None if vocabularies is None else dict(vocabularies)
        self._model_specs = None if specs is None else {side: tuple(v) for side, v in specs.items()}

    def embedding_features(
        self, side: str, vocabularies: Mapping[str, Mapping[str, Any]] | None = None
    ) -> tuple[list[Hashable], dict[str, Tensor], list[Any]]:
        """``(raw ids, feature tensors, feature declarations)`` of every item or user.

        With ``vocabularies`` (a model's :attr:`~selfsup_recsys.methods.FeatureTwoTower.
        feature_tables`), the ids are every item (user) of the interaction and metadata files
        in sorted order, encoded with those vocabularies; without, the tables fitted on the
        files (:meth:`load`) are used.

        Raises:
            ValueError: an unknown ``side``.
            KeyError: the interaction table lacks the id column.
        """
        if side not in _SIDES:
            raise ValueError(f"side must be one of {_SIDES}, got {side!r}.")
        if vocabularies is None:
            data = self.load()
            table = data.items if side == "item" else data.users
            return list(table.keys), table.features, table.specs
        inter, items, users, kw = self._frames()
        column = kw["item_column"] if side == "item" else kw["user_column"]
        frame = items if side == "item" else users
        ordered, features, table = encode_entities(inter, frame, column, side, vocabularies[side])
        for name, shape in table.content_shapes.items():
            path = self.resolve(self.item_content[name]) if name in self.item_content else None
            key_column = self.item_content_key or kw["item_column"]
            features[name] = content_for_keys(name, shape, ordered, path, key_column)
        return ordered, features, table.specs

    def embedding_loader(
        self,
        side: str | None = None,
        vocabularies: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> DataLoader:
        """:class:`~selfsup.data.EmbeddingBatch` es of every item (``side="item"``) or user
        (``"query"``; default :attr:`predict_side`), ``batch_size`` rows each, in a fixed order.

        ``ids`` are the raw ids (an int64 tensor when they are integers, else strings);
        ``inputs`` is ``{side: features}``, what ``FeatureTwoTower.embed`` takes. See
        :meth:`embedding_features` for ``vocabularies``.

        Examples:
            >>> loader = dm.embedding_loader("query", method.feature_tables)  # doctest: +SKIP
            >>> vectors = torch.cat([method.embed(b.inputs) for b in loader])  # doctest: +SKIP
        """
        side = side or self.predict_side
        keys, features, _ = self.embedding_features(side, vocabularies)
        return embedding_rows_loader(keys, features, side, self.batch_size)

    def predict_dataloader(self) -> DataLoader:
        """Every item (``predict_side="item"``) or user (``"query"``) once, as
        :class:`~selfsup.data.EmbeddingBatch` es encoded with the embedded model's vocabularies
        (:meth:`use_model_vocabularies`; without them, the tables fitted on the files).

        Raises:
            ValueError: a model without saved vocabularies whose features differ from those
                fitted on these files.
        """
        vocabularies = self._model_vocabularies
        keys, features, specs = self.embedding_features(self.predict_side, vocabularies)
        expected = (self._model_specs or {}).get(self.predict_side)
        if vocabularies is None and expected is not None and tuple(specs) != tuple(expected):
            raise ValueError(
                f"the {self.predict_side} features fitted on these files {specs} differ from the "
                f"model's {list(expected)}, and the model carries no vocabularies to encode them "
                "with; embed the files it was trained on, or retrain it."
            )
        return embedding_rows_loader(keys, features, self.predict_side, self.batch_size)

    # -- training batches ------------------------------------------------------------------------
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
        collate = PairCollate(
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

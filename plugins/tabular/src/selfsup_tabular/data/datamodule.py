"""``TabularCSVDataModule``: a CSV/Parquet file -> encoded batches for ``selfsup fit``, and raw
rows with their ids for ``selfsup embed``."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from selfsup.data.embedding import EmbeddingBatch
from selfsup.data.label_batches import DistinctLabelBatchSampler, load_labels
from selfsup.data.roots import resolve_data_root
from selfsup_tabular.data.labels import TargetEncoder
from selfsup_tabular.data.preprocessing import TabularPreprocessor
from selfsup_tabular.data.tables import read_table, resolve_column

__all__ = ["TabularCSVDataModule"]


class _Gather:
    """Collate: index every tensor of the table at once (no per-row Python objects)."""

    def __init__(self, tensors: dict[str, Tensor]) -> None:
        self.tensors = tensors

    def __call__(self, idx: list[int]) -> dict[str, Tensor]:
        index = torch.as_tensor(idx, dtype=torch.long)
        return {k: v[index] for k, v in self.tensors.items()}


class _Pairs(_Gather):
    def __call__(self, idx: list[int]) -> tuple[dict[str, Tensor], Tensor]:  # type: ignore[override]
        batch = super().__call__(idx)
        y = batch.pop("y")
        return batch, y


class _FrameChunks(Dataset):
    """Consecutive row blocks of a table as ``EmbeddingBatch(ids, DataFrame)``, in file order."""

    def __init__(self, ids: list[str] | Tensor, frame: Any, rows_per_batch: int) -> None:
        self.ids, self.frame, self.rows = ids, frame, rows_per_batch

    def __len__(self) -> int:
        return -(-len(self.frame) // self.rows)

    def __getitem__(self, i: int) -> EmbeddingBatch:
        part = slice(i * self.rows, (i + 1) * self.rows)
        return EmbeddingBatch(self.ids[part], self.frame.iloc[part])


def _as_is(batch: EmbeddingBatch) -> EmbeddingBatch:
    # module level, so DataLoader workers can pickle it
    return batch


class TabularCSVDataModule(LightningDataModule):
    """Rows of a table file as encoded batches; fits the preprocessing on training rows only.

    ``setup`` reads ``path`` (delimiter detected; ``header=False`` for headerless files), carves a
    seeded validation split (``val_fraction``) from it, fits a
    :class:`~selfsup_tabular.data.TabularPreprocessor` (and, with a ``target``, a
    :class:`~selfsup_tabular.data.TargetEncoder`) on the remaining training rows and encodes all
    splits. The label column and the ``id_column`` are never features. The fitted
    :attr:`preprocessor` is public: in a ``selfsup fit`` run the task's method takes it in
    ``Method.bind_data`` (``TJEPA`` / ``SCARF`` materialise from it), so the model is built with
    the right schema and saves the transform in its checkpoints. This module never looks for
    the method (it needs no trainer).

    Batches are dicts ``{"x_num", "num_missing", "x_cat"[, "y"]}``. ``probe_dataloaders`` gives
    ``(train, validation)`` loaders of ``(inputs, labels)`` for :class:`selfsup.metrics.
    ProbeMonitor` (classification only) — validation, never the test file.

    ``selfsup embed``: :meth:`predict_dataloader` yields every row of ``path`` once, in file
    order, as :class:`~selfsup.data.EmbeddingBatch` ``(ids, DataFrame)``: the ids are the
    ``id_column``'s values (strings) or, without one, the 0-based row numbers of the table as
    read; the inputs are the raw rows, which the trained method transforms with the
    preprocessing saved in it (``TJEPA.embed`` / ``SCARF.embed`` take a DataFrame). Nothing is
    fitted in the predict stage, so a table other than the training one (``--data``) is embedded
    with the training preprocessing.

    Args:
        path: Table file, absolute or relative to ``data_root`` (default ``"adult/adult.data"``).
        target: Label column name or 0-based index (negative from the end); None for none
            (default -1).
        data_root: Directory of relative paths (default None: the environment variable
            ``SELFSUP_DATA``; there is no other fallback).
        header: Whether the first line holds column names (default True).
        delimiter: Field separator (default None: detected among comma, semicolon, tab).
        test_path: Optional held-out table (same schema) for ``test_dataloader`` (default None).
        val_fraction: Share of ``path``'s rows held out for validation (default 0.1).
        task: ``"classification"`` or ``"regression"`` labels (default ``"classification"``).
        numerical, categorical, drop: Column type declarations and ignored columns (default
            None: automatic typing, see :class:`~selfsup_tabular.data.TabularPreprocessor`).
        scaling: Numerical scaling, ``"quantile"`` (default), ``"standard"`` or ``"minmax"``.
        batch_size: Training batch size (default 512; the last incomplete batch is dropped);
            also the rows per embedding batch.
        seed: Seed of the validation split and of shuffling (default 0).
        num_workers: DataLoader workers (default 0).
        id_column: Column of unique row ids (default None: row numbers); never a feature, and
            the ids of ``selfsup embed``'s output.
        encoding: Text encoding of CSV/TSV files (default ``"utf-8-sig"``: UTF-8, with or
            without a byte order mark); e.g. ``"latin-1"``.
        max_non_numeric: Share of stray non-numbers a column may hold and still be typed
            numerical, those values becoming missing with a warning (default 0.05).
        pseudo_labels: A ``.npy`` file of one int (pseudo-)label per row of ``path``, in file
            order (the order ``selfsup embed`` writes) (default None). Training batches then
            never hold two rows of one label (G-SimCLR,
            :class:`selfsup.data.DistinctLabelBatchSampler`): cluster the rows' embeddings so
            same-cluster rows are not each other's negatives (SCARF).

    Raises:
        DataRootError: a relative ``path`` with neither ``data_root`` nor ``SELFSUP_DATA`` (the
            message names both), or a data folder that does not exist.
        FileNotFoundError: the table is missing.
        KeyError: the label column or the id column is not in the table (or the label column
            is not in the test table).
        ValueError: ids that repeat or are missing, a table without data rows, a label column
            without any label, a test table without a fitted feature column, and the errors of
            :func:`~selfsup_tabular.data.read_table` (encoding, delimiter, duplicate names).

    Rows whose label is missing (or, for regression, not a number) are left out of the
    training/validation/test splits with a warning giving the count and examples; they are
    still embedded by :meth:`predict_dataloader`.

    Examples:
        >>> data = TabularCSVDataModule(path="customers.csv", target="churned",
        ...                             id_column="customer_id", data_root="/data/shop")
        >>> data.preprocessor.drop
        ['customer_id']
    """

    def __init__(
        self,
        path: str = "adult/adult.data",
        target: str | int | None = -1,
        data_root: str | None = None,
        header: bool = True,
        delimiter: str | None = None,
        test_path: str | None = None,
        val_fraction: float = 0.1,
        task: str = "classification",
        numerical: list[str] | None = None,
        categorical: list[str] | None = None,
        drop: list[str] | None = None,
        scaling: str = "quantile",
        batch_size: int = 512,
        seed: int = 0,
        num_workers: int = 0,
        id_column: str | None = None,
        encoding: str = "utf-8-sig",
        max_non_numeric: float = 0.05,
        pseudo_labels: str | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.path = path
        self.target = target
        self.data_root = data_root
        self.header = header
        self.delimiter = delimiter
        self.test_path = test_path
        self.val_fraction = val_fraction
        self.task = task
        self.id_column = id_column
        self.encoding = encoding
        ignored = list(drop or ()) + ([id_column] if id_column is not None else [])
        self.preprocessor = TabularPreprocessor(
            numerical=numerical,
            categorical=categorical,
            drop=ignored,
            scaling=scaling,
            max_non_numeric=max_non_numeric,
        )
        self.labels = TargetEncoder(task) if target is not None else None
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.splits: dict[str, dict[str, Tensor]] = {}
        self._labelled_rows = 0
        self.pseudo_labels = pseudo_labels
        self._train_pseudo_labels: Tensor | None = None

    def resolve(self, path: str) -> str:
        """Absolute path of a table: as is, or under ``data_root`` (else ``$SELFSUP_DATA``).

        Raises:
            DataRootError: a relative path and no data folder given, or one that does not exist.
            FileNotFoundError: no such table.
        """
        if os.path.isabs(path):
            full = path
        else:
            root = resolve_data_root(
                self.data_root, owner=type(self).__name__, parameter="data_root"
            )
            full = os.fspath(root / path)
        if not os.path.exists(full):
            raise FileNotFoundError(
                f"{type(self).__name__}: table {full!r} not found (path={path!r}); check path "
                "and data_root (or the environment variable SELFSUP_DATA)."
            )
        return full

    def _read(self, path: str) -> Any:
        frame = read_table(
            self.resolve(path), header=self.header, delimiter=self.delimiter, encoding=self.encoding
        )
        if len(frame) == 0:
            raise ValueError(
                f"table {path!r} has a header but no data rows (columns {list(frame.columns)[:20]}"
                "); pass a file with at least one row."
            )
        return frame

    def _labelled(self, frame: Any, label: str, path: str) -> Any:
        """The rows of ``frame`` with a usable label; says how many were left out and why."""
        assert self.labels is not None
        keep = self.labels.present(frame[label])
        if not keep.any():
            what = "missing or not a number" if self.task == "regression" else "missing"
            raise ValueError(
                f"target column {label!r} is empty in {path!r}: the label of all {len(frame)} "
                f"rows is {what} (empty, '?', 'NA', ...); check target= (columns are "
                f"{list(frame.columns)[:20]}) or set target: null to train without labels."
            )
        if not keep.all():
            clean = self.labels._clean(frame[label])
            absent = clean.isna().to_numpy()
            for mask, why in ((absent, "is missing"), (~keep & ~absent, "is not a number")):
                if mask.any():
                    shown = (
                        f"rows {np.flatnonzero(mask)[:5].tolist()}"
                        if why == "is missing"
                        else f"e.g. {sorted({str(v) for v in clean[mask]})[:3]}"
                    )
                    warnings.warn(
                        f"{path!r}: left out {int(mask.sum())} of {len(frame)} row(s) whose label "
                        f"{label!r} {why} ({shown}); they are not trained on (selfsup embed "
                        "still embeds them).",
                        stacklevel=3,
                    )
        return frame[keep].reset_index(drop=True)

    def _row_ids(self, frame: Any, where: str) -> list[str] | Tensor:
        """The ``id_column``'s values as strings (checked unique and present), else row numbers."""
        if self.id_column is None:
            return torch.arange(len(frame), dtype=torch.long)
        if self.id_column not in frame.columns:
            raise KeyError(
                f"id_column {self.id_column!r} is not in {where}; columns are "
                f"{list(frame.columns)[:20]}."
            )
        values = frame[self.id_column]
        missing = values.isna() | (values.astype(str).str.strip() == "")
        if bool(missing.any()):
            rows = np.flatnonzero(missing.to_numpy())[:5].tolist()
            raise ValueError(
                f"id_column {self.id_column!r} of {where} is empty in rows {rows}; every row "
                "needs an id (or leave id_column unset to use row numbers)."
            )
        ids = values.astype(str).str.strip()
        repeated = ids[ids.duplicated(keep=False)]
        if len(repeated):
            raise ValueError(
                f"id_column {self.id_column!r} of {where} repeats ids "
                f"{sorted(set(repeated.tolist()))[:5]}; ids must be unique (or leave id_column "
                "unset to use row numbers)."
            )
        return ids.tolist()

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            # selfsup embed: the method already holds the training preprocessing; fitting one
            # here, on the rows to embed, would be a different transform
            return
        if self.splits:
            return
        df = self._read(self.path).reset_index(drop=True)  # index = row number in the file
        if self.id_column is not None:
            self._row_ids(df, repr(self.path))
        file_rows = len(df)
        label = None
        if self.target is not None:
            label = resolve_column(df.columns, self.target)
            if label == self.id_column:
                raise ValueError(f"target and id_column are the same column {label!r}.")
            df = self._labelled(df, label, self.path)
        self._labelled_rows = len(df)
        perm = np.random.default_rng(self.seed).permutation(len(df))
        n_val = int(round(len(df) * self.val_fraction))
        val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        frames = {"train": df.iloc[fit_idx], "val": df.iloc[val_idx]}
        if self.pseudo_labels is not None:
            labels = load_labels(self.pseudo_labels, file_rows)
            self._train_pseudo_labels = labels[torch.as_tensor(frames["train"].index.to_numpy())]
        if self.test_path:
            test = self._read(self.test_path)
            if label is not None:
                if label not in test.columns:
                    raise KeyError(
                        f"label column {label!r} is not in {self.test_path!r}; its columns are "
                        f"{list(test.columns)[:20]} (the test table needs the training columns)."
                    )
                test = self._labelled(test, label, self.test_path)
            frames["test"] = test
        self.preprocessor.fit(frames["train"], target=label)
        if self.labels is not None:
            self.labels.fit(frames["train"][label])
        for name, frame in frames.items():
            if len(frame) == 0:
                continue
            source = self.test_path if name == "test" else self.path
            tensors = self.preprocessor.transform(frame, where=repr(source))
            if self.labels is not None:
                tensors["y"] = self.labels.transform(frame[label])
            self.splits[name] = tensors

    def _loader(self, split: str, shuffle: bool, pairs: bool = False) -> DataLoader:
        if split not in self.splits:
            if not self.splits:
                raise RuntimeError(f"no {split!r} rows: call setup() first.")
            if split == "test":
                raise RuntimeError("no 'test' rows: set test_path to a held-out table.")
            raise RuntimeError(
                f"no {split!r} rows: val_fraction={self.val_fraction} of {self._labelled_rows} "
                "rows gives none; raise val_fraction (or do not validate: limit_val_batches=0)."
            )
        tensors = self.splits[split]
        rows = next(iter(tensors.values())).shape[0]
        collate = _Pairs(tensors) if pairs else _Gather(tensors)
        if split == "train" and shuffle and self._train_pseudo_labels is not None:
            sampler = DistinctLabelBatchSampler(
                self._train_pseudo_labels, self.batch_size, seed=self.seed
            )
            return DataLoader(
                range(rows), batch_sampler=sampler, collate_fn=collate, num_workers=self.num_workers
            )
        gen = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            range(rows),
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=shuffle and rows >= 2 * self.batch_size,
            collate_fn=collate,
            generator=gen,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """Every row of ``path`` once, in file order, as ``EmbeddingBatch(ids, DataFrame)``.

        ``ids``: the ``id_column``'s values (strings) or the 0-based row numbers (int64). The
        DataFrame holds the table's columns except the id column (a label column rides along
        and is ignored: it is not one of the method's features). Rows whose label is missing
        are embedded too.
        """
        frame = self._read(self.path)
        ids = self._row_ids(frame, repr(self.path))
        if self.id_column is not None:
            frame = frame.drop(columns=[self.id_column])
        return DataLoader(
            _FrameChunks(ids, frame.reset_index(drop=True), self.batch_size),
            batch_size=None,
            shuffle=False,
            collate_fn=_as_is,
            num_workers=self.num_workers,
        )

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """``(train, validation)`` loaders of ``(inputs, labels)`` (classification labels)."""
        if self.labels is None or self.task != "classification":
            raise RuntimeError("probe_dataloaders needs a classification target.")
        return self._loader("train", False, pairs=True), self._loader("val", False, pairs=True)

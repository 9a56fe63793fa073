"""``TabularCSVDataModule``: a CSV/Parquet file -> encoded batches for ``selfsup fit``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader

from selfsup_tabular.data.preprocessing import (
    TabularPreprocessor,
    TargetEncoder,
    read_table,
    resolve_column,
)

__all__ = ["TabularCSVDataModule", "default_data_root"]


def default_data_root() -> str:
    """``$SELFSUP_DATA`` if set, else ``../shared/data`` (relative to the working directory)."""
    return os.environ.get("SELFSUP_DATA") or os.path.join("..", "shared", "data")


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


class TabularCSVDataModule(LightningDataModule):
    """Rows of a table file as encoded batches; fits the preprocessing on training rows only.

    ``setup`` reads ``path`` (delimiter detected; ``header=False`` for headerless files), carves a
    seeded validation split (``val_fraction``) from it, fits a
    :class:`~selfsup_tabular.data.TabularPreprocessor` (and, with a ``target``, a
    :class:`~selfsup_tabular.data.TargetEncoder`) on the remaining training rows and encodes all
    splits. The label column is never a feature. When attached to a ``selfsup fit`` run it hands
    the fitted preprocessing to its task's method (``method.materialize(preprocessor)``), so the
    model is built with the right schema and saves the transform in its checkpoints.

    Batches are dicts ``{"x_num", "num_missing", "x_cat"[, "y"]}``. ``probe_dataloaders`` gives
    ``(train, validation)`` loaders of ``(inputs, labels)`` for :class:`selfsup.metrics.
    ProbeMonitor` (classification only) — validation, never the test file.

    Args:
        path: Table file, absolute or relative to ``data_root`` (default ``"adult/adult.data"``).
        target: Label column name or 0-based index (negative from the end); None for none
            (default -1).
        data_root: Directory of relative paths (default: ``$SELFSUP_DATA``, else
            ``../shared/data``).
        header: Whether the first line holds column names (default True).
        delimiter: Field separator (default None: detected among comma, semicolon, tab).
        test_path: Optional held-out table (same schema) for ``test_dataloader`` (default None).
        val_fraction: Share of ``path``'s rows held out for validation (default 0.1).
        task: ``"classification"`` or ``"regression"`` labels (default ``"classification"``).
        numerical, categorical, drop: Column typing overrides (default None: automatic).
        scaling: Numerical scaling, ``"quantile"`` (default), ``"standard"`` or ``"minmax"``.
        batch_size: Training batch size (default 512; the last incomplete batch is dropped).
        seed: Seed of the validation split and of shuffling (default 0).
        num_workers: DataLoader workers (default 0).

    Raises:
        FileNotFoundError: the table is missing (the message says how to set the data root).
        KeyError: the label column is not in the table.
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
    ) -> None:
        super().__init__()
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        self.path = path
        self.target = target
        self.data_root = data_root
        self.header = header
        self.delimiter = delimiter
        self.test_path = test_path
        self.val_fraction = val_fraction
        self.task = task
        self.preprocessor = TabularPreprocessor(
            numerical=numerical, categorical=categorical, drop=drop or (), scaling=scaling
        )
        self.labels = TargetEncoder(task) if target is not None else None
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.splits: dict[str, dict[str, Tensor]] = {}

    def resolve(self, path: str) -> str:
        """Absolute path of a table: as is, or under the data root."""
        if os.path.isabs(path):
            full = path
        else:
            full = os.path.join(self.data_root or default_data_root(), path)
        if not os.path.exists(full):
            raise FileNotFoundError(
                f"table {full!r} not found (path={path!r}, data_root="
                f"{self.data_root or default_data_root()!r}); set data_root, or the environment "
                "variable SELFSUP_DATA to the directory holding it."
            )
        return full

    def _read(self, path: str) -> Any:
        return read_table(self.resolve(path), header=self.header, delimiter=self.delimiter)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            self._materialize_method()
            return
        df = self._read(self.path)
        label = None
        if self.target is not None:
            label = resolve_column(df.columns, self.target)
            df = df[self.labels.present(df[label])].reset_index(drop=True)
        perm = np.random.default_rng(self.seed).permutation(len(df))
        n_val = int(round(len(df) * self.val_fraction))
        val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        frames = {"train": df.iloc[fit_idx], "val": df.iloc[val_idx]}
        if self.test_path:
            test = self._read(self.test_path)
            if label is not None:
                if label not in test.columns:
                    raise KeyError(f"label column {label!r} is not in {self.test_path!r}.")
                test = test[self.labels.present(test[label])].reset_index(drop=True)
            frames["test"] = test
        self.preprocessor.fit(frames["train"], target=label)
        if self.labels is not None:
            self.labels.fit(frames["train"][label])
        for name, frame in frames.items():
            if len(frame) == 0:
                continue
            tensors = self.preprocessor.transform(frame)
            if self.labels is not None:
                tensors["y"] = self.labels.transform(frame[label])
            self.splits[name] = tensors
        self._materialize_method()

    def _materialize_method(self) -> None:
        """Hand the fitted preprocessing to the method of the task this module feeds."""
        trainer = getattr(self, "trainer", None)
        module = getattr(trainer, "lightning_module", None) if trainer is not None else None
        tasks = getattr(module, "tasks", None)
        if tasks is None:
            return
        for task in tasks.values():
            if task.data is self and hasattr(task.method, "materialize"):
                task.method.materialize(self.preprocessor)

    def _loader(self, split: str, shuffle: bool, pairs: bool = False) -> DataLoader:
        if split not in self.splits:
            raise RuntimeError(f"no {split!r} rows: call setup() first (or set test_path).")
        tensors = self.splits[split]
        rows = next(iter(tensors.values())).shape[0]
        collate = _Pairs(tensors) if pairs else _Gather(tensors)
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

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """``(train, validation)`` loaders of ``(inputs, labels)`` (classification labels)."""
        if self.labels is None or self.task != "classification":
            raise RuntimeError("probe_dataloaders needs a classification target.")
        return self._loader("train", False, pairs=True), self._loader("val", False, pairs=True)

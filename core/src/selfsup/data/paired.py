"""Paired samples of two modalities listed in a manifest (for cross-modal alignment)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, default_collate

__all__ = ["PairedDataset", "PairedManifestDataModule", "load_array"]

Reader = Callable[[str], Any]


def load_array(path: str) -> torch.Tensor:
    """Default reader: a ``.npy`` or ``.pt`` file holding one sample's tensor."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return torch.from_numpy(np.load(path, allow_pickle=False))
    if suffix == ".pt":
        value = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: expected one tensor, got {type(value).__name__}.")
        return value
    raise ValueError(
        f"{path}: the default reader loads .npy and .pt files; pass readers={{column: fn}} "
        "with the modality plugin's loader (for instance an audio or image loader)."
    )


class PairedDataset(Dataset):
    """``(a_i, b_i)`` pairs as ``{column_a: reader_a(cell), column_b: reader_b(cell)}``.

    Args:
        rows: Manifest rows (column -> cell text).
        columns: The two columns to pair.
        readers: Column -> callable turning a cell (a resolved path, or the raw text when the cell
            is not a file) into a sample.
        root: Folder that relative paths in the cells are resolved against.
    """

    def __init__(
        self,
        rows: Sequence[Mapping[str, str]],
        columns: tuple[str, str],
        readers: Mapping[str, Reader],
        root: Path,
    ) -> None:
        self.rows = list(rows)
        self.columns = columns
        self.readers = dict(readers)
        self.root = root

    def __len__(self) -> int:
        return len(self.rows)

    def _resolve(self, cell: str) -> str:
        path = Path(cell)
        path = path if path.is_absolute() else self.root / path
        return str(path) if path.exists() else cell

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows[index]
        out = {}
        for column in self.columns:
            try:
                out[column] = self.readers[column](self._resolve(row[column]))
            except (
                Exception
            ) as error:  # name the row and the file: the reader's error alone does not
                raise ValueError(
                    f"manifest row {index + 2}, column {column!r} ({row[column]!r}): {error}"
                ) from error
        return out


class PairedManifestDataModule(LightningDataModule):
    """Data module over a CSV manifest whose two columns point to the paired samples.

    The manifest has a header row; each of the two ``columns`` holds a path (relative to
    the manifest's folder, or absolute) or any text the column's reader understands (an id, a
    sentence). A seeded share of the rows is held out for validation. Batches are dicts
    ``{column_a: batch_a, column_b: batch_b}`` — exactly what
    :class:`~selfsup.methods.CrossModalAlignment` with ``keys=columns`` consumes.

    Args:
        manifest: Path to the CSV manifest.
        columns: The two columns to pair (default ``("a", "b")``).
        readers: Column -> reader (default :func:`load_array` for both).
        collate: Column -> collate function for that side (default ``default_collate``;
            variable-length modalities pass their plugin's padding collate).
        batch_size: Pairs per batch (default 32).
        val_fraction: Share of rows held out for validation (default 0.1; 0 for none).
        seed: Seed of the train/validation split (default 0).
        num_workers: DataLoader workers (default 0).

    Raises:
        FileNotFoundError: If the manifest does not exist.
        ValueError: On a manifest without the columns, without rows, or with empty cells.
    """

    def __init__(
        self,
        manifest: str | Path,
        columns: tuple[str, str] = ("a", "b"),
        readers: Mapping[str, Reader] | None = None,
        collate: Mapping[str, Callable[[list[Any]], Any]] | None = None,
        batch_size: int = 32,
        val_fraction: float = 0.1,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.manifest = Path(manifest)
        if len(columns) != 2 or columns[0] == columns[1]:
            raise ValueError(f"columns must name two different manifest columns, got {columns}.")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}.")
        self.columns = (str(columns[0]), str(columns[1]))
        self.readers = {c: (readers or {}).get(c, load_array) for c in self.columns}
        self.collate_fns = {c: (collate or {}).get(c, default_collate) for c in self.columns}
        self.batch_size = int(batch_size)
        self.val_fraction = float(val_fraction)
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.train_set: PairedDataset | None = None
        self.val_set: PairedDataset | None = None

    def _read_rows(self) -> list[dict[str, str]]:
        if not self.manifest.is_file():
            raise FileNotFoundError(f"manifest {self.manifest} does not exist.")
        with self.manifest.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in self.columns if c not in header]
            if missing:
                raise ValueError(
                    f"manifest {self.manifest} has no column(s) {missing}; its header is {header}."
                )
            rows = list(reader)
        if not rows:
            raise ValueError(f"manifest {self.manifest} lists no pairs.")
        for number, row in enumerate(rows, start=2):
            empty = [c for c in self.columns if not (row.get(c) or "").strip()]
            if empty:
                raise ValueError(
                    f"manifest {self.manifest} line {number}: empty cell(s) in {empty}; every "
                    "pair needs both sides (drop unpaired rows first)."
                )
        return rows

    def setup(self, stage: str | None = None) -> None:
        rows = self._read_rows()
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(self.seed))
        n_val = int(len(rows) * self.val_fraction)
        root = self.manifest.parent
        val_rows = [rows[i] for i in order[:n_val].tolist()]
        train_rows = [rows[i] for i in order[n_val:].tolist()]
        self.train_set = PairedDataset(train_rows, self.columns, self.readers, root)
        self.val_set = (
            PairedDataset(val_rows, self.columns, self.readers, root) if val_rows else None
        )

    def _collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {c: self.collate_fns[c]([item[c] for item in items]) for c in self.columns}

    def _loader(self, dataset: PairedDataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=shuffle and len(dataset) > self.batch_size,
            collate_fn=self._collate,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup("fit")
        assert self.train_set is not None
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | list[Any]:
        if self.train_set is None:
            self.setup("fit")
        return self._loader(self.val_set, shuffle=False) if self.val_set is not None else []

"""A data module over a ``.npy`` file of feature vectors (optionally with a label file).

Replace with your domain's reader; keep what it does right: a path is required (never a default
location), the file is read without running code (``allow_pickle=False``), the validation split
is seeded, and ``predict_dataloader`` yields every row once as
:class:`selfsup.data.EmbeddingBatch` so ``selfsup embed`` works on it.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset

from selfsup.data import EmbeddingBatch

__all__ = ["VectorFileDataModule"]


def _load(path: str, what: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} file {path!r} not found; pass the path of a .npy file.")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:  # object arrays need pickle: refused, never executed
        raise ValueError(
            f"{what} file {path!r} is not a plain numeric .npy array ({err})."
        ) from err


class VectorFileDataModule(LightningDataModule):
    """Rows of a ``(N, F)`` float ``.npy`` file; labels (``(N,)`` ints) only for probes.

    Args:
        path: The vectors, ``(N, F)``.
        labels_path: Optional labels, ``(N,)`` integers (training never reads them).
        val_fraction: Share of rows held out for validation (seeded; default 0.1).
        batch_size: Rows per batch (default 64).
        seed: Seed of the split and the shuffling (default 0).

    Raises:
        FileNotFoundError: a missing file.
        ValueError: not a 2-D numeric array, labels of another length, or a bad fraction.

    Examples:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/x.npy"
        >>> np.save(path, np.random.default_rng(0).normal(size=(20, 3)).astype("float32"))
        >>> dm = VectorFileDataModule(path, batch_size=8)
        >>> dm.setup("fit")
        >>> next(iter(dm.train_dataloader()))[0].shape
        torch.Size([8, 3])
    """

    def __init__(
        self,
        path: str,
        labels_path: str | None = None,
        val_fraction: float = 0.1,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}.")
        self.path, self.labels_path = path, labels_path
        self.val_fraction, self.batch_size, self.seed = val_fraction, batch_size, seed
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        x = _load(self.path, "vectors")
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
            raise ValueError(
                f"{self.path!r} must hold a numeric (N, F) array, got {x.dtype} {x.shape}."
            )
        self.x = torch.as_tensor(x, dtype=torch.float32)
        if self.labels_path is not None:
            y = _load(self.labels_path, "labels")
            if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
                raise ValueError(
                    f"labels {self.labels_path!r} must be {len(x)} integers, got "
                    f"{y.dtype} {y.shape}."
                )
            self.y = torch.as_tensor(y, dtype=torch.long)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
        n_val = int(round(self.val_fraction * len(x)))
        self.val_rows, self.train_rows = order[:n_val], order[n_val:]

    def _rows(self, rows: torch.Tensor, shuffle: bool) -> DataLoader:
        if self.x is None:
            raise RuntimeError("call setup() first.")
        parts = [self.x[rows]] + ([self.y[rows]] if self.y is not None else [])
        gen = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(TensorDataset(*parts), self.batch_size, shuffle=shuffle, generator=gen)

    def train_dataloader(self) -> DataLoader:
        return self._rows(self.train_rows, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._rows(self.val_rows, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        if self.x is None:
            raise RuntimeError("call setup() first.")
        ids = torch.arange(len(self.x))
        return DataLoader(
            TensorDataset(ids, self.x),
            self.batch_size,
            collate_fn=lambda items: EmbeddingBatch(
                [int(i) for i, _ in items], torch.stack([v for _, v in items])
            ),
        )

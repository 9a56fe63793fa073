"""scikit-learn's 8x8 digits as a data module: the built-in default data set."""

from __future__ import annotations

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset

from selfsup.data.embedding import collate_embedding_batch
from selfsup.imports import require

__all__ = ["DigitsDataModule"]


class DigitsDataModule(LightningDataModule):
    """The UCI handwritten digits shipped inside scikit-learn (1,797 images, 10 classes).

    Pixels are scaled to ``[0, 1]`` and flattened to 64 features. A stratified
    split gives the pre-training set (labels unused by the method) and a held-out
    set; both labelled halves feed the kNN / linear probes.

    Args:
        batch_size: Pre-training batch size (the last incomplete batch is dropped).
        test_fraction: Share of images held out for probe evaluation.
        seed: Seed of the split.
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        batch_size: int = 256,
        test_fraction: float = 0.25,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}.")
        self.batch_size = batch_size
        self.test_fraction = test_fraction
        self.seed = seed
        self.num_workers = num_workers
        self.train_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    def _load(self) -> tuple[torch.Tensor, torch.Tensor]:
        datasets = require("sklearn.datasets", "scikit-learn", extra="selfsup-core[demo]")
        digits = datasets.load_digits()
        x = torch.as_tensor(digits.data, dtype=torch.float32) / 16.0
        return x, torch.as_tensor(digits.target, dtype=torch.long)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        x, y = self._load()
        gen = torch.Generator().manual_seed(self.seed)
        train_idx, test_idx = [], []
        for cls in range(10):  # stratified: each class split in the same proportion
            idx = (y == cls).nonzero().flatten()
            idx = idx[torch.randperm(len(idx), generator=gen)]
            n_test = round(len(idx) * self.test_fraction)
            test_idx.append(idx[:n_test])
            train_idx.append(idx[n_test:])
        tr, te = torch.cat(train_idx), torch.cat(test_idx)
        self.train_set = TensorDataset(x[tr], y[tr])
        self.test_set = TensorDataset(x[te], y[te])

    def _loader(self, dataset: TensorDataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("DigitsDataModule.setup() has not run yet.")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)

    def predict_dataloader(self) -> DataLoader:
        """Every image (both splits) as :class:`~selfsup.data.EmbeddingBatch` es; ids are the
        image's index in scikit-learn's ``load_digits()``."""
        x, _ = self._load()
        ids = torch.arange(len(x))
        return DataLoader(
            TensorDataset(ids, x),
            batch_size=self.batch_size,
            shuffle=False,
            collate_fn=collate_embedding_batch,
        )

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """Labelled ``(train, test)`` loaders of ``(x, y)`` for kNN / linear probes."""
        self.setup()
        return self._loader(self.train_set, train=False), self._loader(self.test_set, train=False)

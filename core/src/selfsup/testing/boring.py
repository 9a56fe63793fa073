"""Small, boring fixtures reused by tests here and in plugins (Lightning's ``BoringModel`` idea)."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningDataModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from selfsup.data.embedding import collate_embedding_batch
from selfsup.demo.vector_simclr import VectorSimCLR
from selfsup.experiment.task import Task

__all__ = [
    "BoringDataModule",
    "BoringMethod",
    "RandomTensorDataModule",
    "boring_task",
    "quiet_trainer",
]


class BoringMethod(VectorSimCLR):
    """A tiny :class:`~selfsup.demo.VectorSimCLR` on 16-dimensional vectors."""

    def __init__(self, in_dim: int = 16, hidden_dim: int = 32, embed_dim: int = 16) -> None:
        super().__init__(in_dim=in_dim, hidden_dim=hidden_dim, embed_dim=embed_dim, proj_dim=8)


class BoringDataModule(LightningDataModule):
    """Gaussian blobs: ``num_classes`` clusters of ``dim``-dimensional vectors with labels.

    Provides train/val loaders of ``(x, y)``, ``probe_dataloaders()`` and, for
    ``selfsup embed``, ``predict_dataloader()`` of ``EmbeddingBatch(ids, x)`` (ids
    ``0 .. num_samples - 1``).
    """

    def __init__(
        self,
        num_samples: int = 64,
        dim: int = 16,
        num_classes: int = 4,
        batch_size: int = 16,
        seed: int = 0,
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        centers = 3.0 * torch.randn(num_classes, dim, generator=gen)
        y = torch.arange(num_samples) % num_classes
        x = centers[y] + torch.randn(num_samples, dim, generator=gen)
        self.dataset = TensorDataset(x, y)
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=self.batch_size, drop_last=True)

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        loader = DataLoader(self.dataset, batch_size=self.batch_size)
        return loader, loader

    def predict_dataloader(self) -> DataLoader:
        x = self.dataset.tensors[0]
        return DataLoader(
            TensorDataset(torch.arange(len(x)), x),
            batch_size=self.batch_size,
            collate_fn=collate_embedding_batch,
        )


class RandomTensorDataModule(LightningDataModule):
    """Standard-normal tensors of ``sample_shape`` in batches of ``(B, *sample_shape)``.

    A smoke-test source for any method whose batch is one tensor (tabular rows,
    waveforms, images), configurable from YAML.
    """

    def __init__(
        self, sample_shape: list[int], num_samples: int = 64, batch_size: int = 16, seed: int = 0
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.data = torch.randn(num_samples, *sample_shape, generator=gen)
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.data, batch_size=self.batch_size, shuffle=True, drop_last=True)


def boring_task(name: str = "boring", weight: float = 1.0, seed: int = 0) -> Task:
    """A :class:`BoringMethod` on a :class:`BoringDataModule` as a task."""
    return Task(name, method=BoringMethod(), data=BoringDataModule(seed=seed), weight=weight)


def quiet_trainer(**kwargs: Any) -> Trainer:
    """A CPU ``Trainer`` for tests: no logger, checkpoints, progress bar, summary or validation.

    Keyword arguments override the defaults (``max_steps=4``, ``limit_val_batches=0``, ...).
    """
    defaults: dict[str, Any] = {
        "max_steps": 4,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "limit_val_batches": 0,
        "accelerator": "cpu",
        "devices": 1,
    }
    defaults.update(kwargs)
    return Trainer(**defaults)

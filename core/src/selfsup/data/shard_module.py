"""``ShardsDataModule``: the Lightning side of streaming a shard folder, for any modality.

A plugin's streaming data module names its decoder and collate; this base finds the folder
(absolute, or under ``data_root`` / ``$SELFSUP_DATA``), builds one
:class:`~selfsup.data.shards.ShardLoader` and hands it to Lightning as the training loader
(its ``sampler.set_epoch`` and ``state_dict`` are what Lightning calls each epoch and saves in
checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule
from torch.utils.data._utils.collate import default_collate

from selfsup.data.roots import resolve_data_root
from selfsup.data.shards import ShardLoader

__all__ = ["ShardsDataModule"]


class ShardsDataModule(LightningDataModule):
    """Training batches streamed from a shard folder; subclasses say how samples decode.

    Subclasses implement :meth:`decoder` (``sample -> item``, picklable for loader workers) and
    may override :meth:`collate` (default: PyTorch's ``default_collate``).

    Args:
        folder: The shard folder (with ``index.json``), absolute or under ``data_root``.
        batch_size: Samples per batch.
        data_root: Base of a relative ``folder`` (default: ``$SELFSUP_DATA``).
        num_workers: Loader workers per rank (default 0).
        shuffle: Shuffle shards per epoch and samples within each shard (default True).
        seed: Seed of that shuffling (and of the per-sample seeds decoders draw crops with).

    Raises:
        ValueError: ``batch_size < 1``; at ``setup``: no index, missing shards, too few shards
            for the ranks x workers (named with the counts).

    Examples:
        >>> class Numbers(ShardsDataModule):
        ...     def decoder(self):
        ...         return lambda sample: int(sample["txt"])
        >>> data = Numbers("/data/number-shards", batch_size=64)  # doctest: +SKIP
    """

    def __init__(
        self,
        folder: str,
        batch_size: int,
        data_root: str | None = None,
        num_workers: int = 0,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.folder = folder
        self.batch_size = batch_size
        self.data_root = data_root
        self.num_workers = num_workers
        self.shuffle = shuffle
        self.seed = seed
        self._loader: ShardLoader | None = None

    def decoder(self) -> Callable[[dict[str, Any]], Any]:
        """``sample -> item`` for the loader workers (``{"__key__", "__seed__", field: bytes}``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement decoder().")

    def collate(self) -> Callable[[list[Any]], Any]:
        """``[item, ...] -> batch`` (default: PyTorch's ``default_collate``)."""
        return default_collate

    def shard_folder(self) -> Path:
        """The folder, resolved against ``data_root`` when relative."""
        path = Path(self.folder)
        if path.is_absolute():
            return path
        root = resolve_data_root(self.data_root, owner=type(self).__name__, parameter="data_root")
        return root / path

    def setup(self, stage: str | None = None) -> None:
        if self._loader is None:
            self._loader = ShardLoader(
                self.shard_folder(),
                self.decoder(),
                self.batch_size,
                collate=self.collate(),
                shuffle=self.shuffle,
                seed=self.seed,
                num_workers=self.num_workers,
            )
            len(self._loader)  # checks shards against ranks x workers now, with a clear error

    def train_dataloader(self) -> ShardLoader:
        self.setup("fit")
        assert self._loader is not None
        return self._loader

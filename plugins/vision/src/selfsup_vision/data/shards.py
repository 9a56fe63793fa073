"""Images larger than memory: tar shards streamed by rank and worker (``selfsup.data.shards``).

:func:`write_image_shards` packs an image folder (``root/<class>/<image>``) into shards: each
image's file bytes as they are (no re-encoding) and its label. :class:`ImageShardsDataModule`
streams them for pre-training: every worker holds one shard at a time, ranks and workers read
disjoint shards, every rank gets the same number of batches, and a checkpoint resumes with the
very next batch.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from selfsup.data.shard_module import ShardsDataModule
from selfsup.data.shards import ShardInfo, write_shards
from selfsup_vision.data.images import load_image, scan_folder, to_tensor

__all__ = ["IMAGE_FIELDS", "ImageShardsDataModule", "write_image_shards"]

#: Field names (file suffixes) read as the image, in this order of preference.
IMAGE_FIELDS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff")


def write_image_shards(
    image_root: str | Path, out: str | Path, samples_per_shard: int = 1000, shuffle_seed: int = 0
) -> list[ShardInfo]:
    """Pack ``image_root/<class>/<image>`` into tar shards in ``out`` (labels as ``cls``).

    The images are shuffled once (seeded) before packing, so each shard holds every class; the
    file bytes are stored unchanged, under their own suffix.

    Examples:
        >>> write_image_shards("cifar10-jpg/train", "cifar10-shards")  # doctest: +SKIP
    """
    samples, _ = scan_folder(str(image_root), layout="classes")
    order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(shuffle_seed))

    def records() -> Iterator[dict[str, Any]]:
        for i, index in enumerate(order.tolist()):
            path, label = samples[index]
            suffix = Path(path).suffix.lower().lstrip(".")
            yield {"__key__": f"{i:08d}", suffix: Path(path).read_bytes(), "cls": str(label)}

    return write_shards(records(), out, samples_per_shard=samples_per_shard)


class _DecodeImage:
    """Shard sample -> ``(image (3, S, S) float in [0, 1], label)`` (picklable for workers)."""

    def __init__(self, image_size: int | None, label_field: str) -> None:
        self.image_size = image_size
        self.label_field = label_field

    def __call__(self, sample: dict[str, Any]) -> tuple[Tensor, int]:
        field = next((f for f in IMAGE_FIELDS if f in sample), None)
        key = sample["__key__"]
        if field is None:
            raise ValueError(
                f"shard sample {key!r} has no image field (one of {IMAGE_FIELDS}); its fields: "
                f"{sorted(k for k in sample if not k.startswith('__'))}."
            )
        image = load_image(io.BytesIO(sample[field]), "convert", name=f"{key}.{field} (shard)")
        if self.image_size is not None:
            from torchvision.transforms.v2 import functional as TF

            image = TF.center_crop(TF.resize(image, self.image_size), self.image_size)
        raw = sample.get(self.label_field)
        label = int(raw.decode()) if raw is not None else -1
        return to_tensor(image), label


class ImageShardsDataModule(ShardsDataModule):
    """Pre-training images streamed from tar shards, for data larger than memory.

    Batches are ``(images (B, 3, S, S) in [0, 1], labels (B,))`` (label ``-1`` when a sample has
    no ``cls``), the un-augmented images every vision method takes (views are drawn on the
    device). Under DDP every rank streams its own shards; no sampler is injected.

    Args:
        folder: The shard folder (with ``index.json``), absolute or under ``data_root``.
        batch_size: Images per batch (default 256).
        image_size: Resize the shorter side to this and centre-crop a square (default: keep the
            stored size, which must then be the same for all images).
        data_root: Base of a relative ``folder`` (default: ``$SELFSUP_DATA``).
        num_workers: Loader workers per rank (default 0).
        shuffle: Shuffle shards per epoch and images within each shard (default True).
        seed: Seed of that shuffling.
        label_field: The field holding the label (default ``"cls"``).

    Raises:
        FileNotFoundError, ValueError: at ``setup``: no index, missing shards, too few shards
            for the ranks x workers.

    Examples:
        >>> data = ImageShardsDataModule("cifar10-shards", batch_size=512, num_workers=4)
        ... # doctest: +SKIP
    """

    def __init__(
        self,
        folder: str,
        batch_size: int = 256,
        image_size: int | None = None,
        data_root: str | None = None,
        num_workers: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        label_field: str = "cls",
    ) -> None:
        if image_size is not None and image_size < 1:
            raise ValueError(f"image_size must be >= 1 or None, got {image_size}.")
        super().__init__(folder, batch_size, data_root, num_workers, shuffle, seed)
        self.image_size = image_size
        self.label_field = label_field

    def decoder(self) -> _DecodeImage:
        return _DecodeImage(self.image_size, self.label_field)

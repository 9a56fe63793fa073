"""A Lightning data module over any torchvision-style dataset of ``(image, label)`` items.

:class:`TorchvisionDataModule` serves training batches (``train_dataloader``), labelled probe
data (``probe_dataloaders``) and, for ``selfsup embed``, every image once without augmentation
(``predict_dataloader``). :class:`~selfsup_vision.data.ImageFolderDataModule` is the same
module over image folders.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from selfsup.data import DistinctLabelBatchSampler, collate_embedding_batch, load_labels
from selfsup_vision.augment.presets import preset
from selfsup_vision.augment.views import MultiView, multicrop_views, views_collate
from selfsup_vision.data._datasets import (
    IdentifiedImages,
    PreparedImages,
    UInt8Images,
    check_tensor_image,
    collate_prebatched,
)
from selfsup_vision.data.images import RGB_POLICIES, to_gray, to_rgb, to_tensor

__all__ = ["PREDICT_SPLITS", "TorchvisionDataModule"]

#: What ``predict_dataloader`` embeds: both splits (train first), or one of them.
PREDICT_SPLITS = ("all", "train", "val")


def _positive(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        need = "a positive int" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {need}, got {value!r}.")
    return int(value)


class TorchvisionDataModule(LightningDataModule):
    """Images from any map-style dataset yielding ``(image, label)`` (every torchvision dataset).

    Images (PIL, or ``(C, H, W)`` tensors) go through the RGB policy
    (:func:`~selfsup_vision.data.images.to_rgb`, ``rgb``; ``in_channels=1`` converts to
    grayscale instead) and a size check, then

    * ``mode="images"`` (default): resized (``resize=True``: shorter side to ``image_size``,
      then centre crop) or centre-cropped to ``image_size``, as float ``(C, S, S)`` in ``[0, 1]``;
      batches ``(images, labels)``. The methods draw their views on the device (fast path).
    * ``mode="views"``: the ``torchvision.transforms.v2`` pipelines of preset ``views``
      (:class:`~selfsup_vision.augment.MultiView`, plus ``num_local_crops`` multi-crop views
      of ``local_size``); batches ``{"views": [...], "labels": y}``.

    ``probe_dataloaders`` gives ``(train, val)`` loaders of un-augmented ``(images, labels)``
    for :class:`selfsup.metrics.ProbeMonitor` (``probe_train_size`` / ``probe_val_size`` first
    images of seeded permutations).

    ``predict_dataloader`` (``selfsup embed``) yields :class:`~selfsup.data.EmbeddingBatch` es
    over every image of ``predict_split`` in dataset order, un-augmented (RGB policy, resize /
    centre crop as the probes; never ``train_subset``, never dropped): ``ids`` are int64
    positions in ``train`` followed by ``val`` (a val image ``j`` has id ``len(train) + j``;
    with ``predict_split="val"`` its id is ``j``), ``inputs`` float ``(B, C, S, S)`` images.

    Args:
        train_dataset: The training dataset.
        val_dataset: Optional validation/test dataset (probe test split).
        image_size: Side ``S`` of the images / global views (default 32).
        mode: ``"images"`` or ``"views"``.
        views: View preset for ``mode="views"`` (default ``"simclr-cifar"``).
        num_local_crops: Extra multi-crop views (default 0).
        local_size: Side of the local crops (default ``S / 2``).
        resize: Resize images whose shorter side differs from ``S`` (default False: smaller
            images raise, larger ones are centre-cropped).
        in_channels: 3 (RGB policy) or 1 (grayscale) (default 3).
        rgb: ``"convert"`` (default) or ``"error"`` (non-RGB inputs raise).
        batch_size: Batch size of every loader (default 256).
        drop_last: Drop the last, incomplete training batch (default True: a batch of one
            image breaks every method using batch statistics or in-batch negatives). With
            True, a training split smaller than ``batch_size`` raises at ``setup("fit")``.
            Probe and embedding loaders never drop.
        train_subset: Use only this many training images, a seeded random subset (default all;
            all when it exceeds the split).
        probe_train_size: Training images of the probe (default 5000).
        probe_val_size: Validation images of the probe (default 2000).
        in_memory: Decode every (un-augmented) image once and keep uint8 tensors in memory
            (``mode="images"`` only; fast for CIFAR-sized data) (default False).
        num_workers: DataLoader workers (default 0).
        seed: Subset / shuffle seed (default 0).
        predict_split: What ``predict_dataloader`` embeds: ``"all"`` (train, then val; default),
            ``"train"`` or ``"val"``.
        pseudo_labels: A ``.npy`` file of one int (pseudo-)label per training image, in the
            order of the ids ``selfsup embed`` writes with ``predict_split="train"`` (default
            None). Training batches then never hold two images of one label (G-SimCLR,
            :class:`selfsup.data.DistinctLabelBatchSampler`): cluster embeddings, e.g. with
            :class:`selfsup.targets.KMeans`, so same-cluster images are not negatives.

    Dataset items must be ``(image, label)`` pairs with an int label (``-1`` for none); images
    are PIL images, uint8 ``(C, H, W)`` tensors, or float ones in ``[0, 1]`` (other dtypes,
    NaN/inf and out-of-range floats raise, naming the item).

    Raises:
        ValueError: a bad setting (named, at construction); a training split smaller than
            ``batch_size`` with ``drop_last`` (at ``setup("fit")``); when read: an image smaller
            than ``image_size`` without ``resize``, non-RGB images under ``rgb="error"``, a
            malformed item or tensor.
        BadImageError: an undecodable file (a ``ValueError`` naming it).

    Examples:
        >>> from torchvision.datasets import FakeData
        >>> data = TorchvisionDataModule(FakeData(size=6, image_size=(3, 8, 8)), image_size=8)
        >>> batch = next(iter(data.predict_dataloader()))
        >>> batch.ids.tolist(), tuple(batch.inputs.shape)
        ([0, 1, 2, 3, 4, 5], (6, 3, 8, 8))
    """

    def __init__(
        self,
        train_dataset: Any = None,
        val_dataset: Any = None,
        image_size: int = 32,
        mode: Literal["images", "views"] = "images",
        views: str = "simclr-cifar",
        num_local_crops: int = 0,
        local_size: int | None = None,
        resize: bool = False,
        in_channels: int = 3,
        rgb: str = "convert",
        batch_size: int = 256,
        train_subset: int | None = None,
        probe_train_size: int = 5000,
        probe_val_size: int = 2000,
        in_memory: bool = False,
        num_workers: int = 0,
        seed: int = 0,
        predict_split: Literal["all", "train", "val"] = "all",
        drop_last: bool = True,
        pseudo_labels: str | None = None,
    ) -> None:
        super().__init__()
        if mode not in ("images", "views"):
            raise ValueError(f"mode must be 'images' or 'views', got {mode!r}.")
        if predict_split not in PREDICT_SPLITS:
            raise ValueError(
                f"predict_split must be one of {PREDICT_SPLITS}, got {predict_split!r}."
            )
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}.")
        if rgb not in RGB_POLICIES:
            raise ValueError(f"rgb policy must be one of {RGB_POLICIES}, got {rgb!r}.")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last must be a bool, got {drop_last!r}.")
        if train_subset is not None and (
            isinstance(train_subset, bool)
            or not isinstance(train_subset, numbers.Integral)
            or train_subset < 1
        ):
            raise ValueError(f"train_subset must be a positive int or None, got {train_subset!r}.")
        if mode == "views":
            preset(views)  # an unknown preset fails now, not at the first training batch
        self.train_dataset = train_dataset
        self.val_dataset = val_dataset
        self.image_size = _positive("image_size", image_size)
        self.mode = mode
        self.views = views
        self.num_local_crops = _positive("num_local_crops", num_local_crops, 0)
        self.local_size = _positive("local_size", local_size or max(1, image_size // 2))
        self.resize = resize
        self.in_channels = in_channels
        self.rgb = rgb
        self.batch_size = _positive("batch_size", batch_size)
        self.drop_last = drop_last
        self.train_subset = train_subset
        self.probe_train_size = _positive("probe_train_size", probe_train_size)
        self.probe_val_size = _positive("probe_val_size", probe_val_size)
        self.in_memory = in_memory
        self.num_workers = _positive("num_workers", num_workers, 0)
        self.seed = int(seed)
        self.predict_split = predict_split
        self.pseudo_labels = pseudo_labels
        self._full: tuple[Any, Any] | None = None
        self._train: Any = None
        self._val: Any = None
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}

    # -- per-image preparation ---------------------------------------------------------------
    def prepare(self, image: Any, where: str = "image") -> Any:
        """RGB/grayscale policy and size check of one image (PIL or tensor); returns it.

        ``where`` names the image in errors (its file, or ``"image <index>"``).
        """
        if isinstance(image, Tensor):
            check_tensor_image(image, self.in_channels, where)
            h, w = image.shape[-2:]
        else:
            if self.in_channels == 3:
                image = to_rgb(image, self.rgb, where)
            else:
                image = to_gray(image, where)
            w, h = image.size
        if min(h, w) < self.image_size and not self.resize:
            raise ValueError(
                f"{where} is {w}x{h}, smaller than image_size={self.image_size}; set resize=True "
                "to upscale it or lower image_size."
            )
        return image

    def _fixed(self, image: Any) -> Tensor:
        from torchvision.transforms.v2 import functional as TF

        x = to_tensor(image)
        if self.resize and min(x.shape[-2:]) != self.image_size:
            x = TF.resize(x, self.image_size, antialias=True)
        return TF.center_crop(x, [self.image_size, self.image_size])

    def _view_transform(self) -> MultiView:
        if self.num_local_crops:
            return multicrop_views(
                self.views, self.image_size, self.num_local_crops, self.local_size
            )
        return MultiView.from_preset(self.views, self.image_size)

    # -- datasets ------------------------------------------------------------------------------
    def datasets(self) -> tuple[Any, Any]:
        """The raw ``(train, val)`` datasets (``val`` may be None)."""
        if self.train_dataset is None:
            raise ValueError("TorchvisionDataModule needs a train_dataset.")
        return self.train_dataset, self.val_dataset

    def setup(self, stage: str | None = None) -> None:
        """Read the datasets (once); for ``stage="fit"`` also check there is a whole batch.

        Raises:
            ValueError: ``stage="fit"``, ``drop_last`` and fewer training images than
                ``batch_size`` (the message gives both numbers).
        """
        if self._train is None:
            train, val = self.datasets()
            self._full = (train, val)
            if self.train_subset is not None and self.train_subset < len(train):
                gen = torch.Generator().manual_seed(self.seed)
                idx = torch.randperm(len(train), generator=gen)[: self.train_subset].sort().values
                train = Subset(train, idx.tolist())
            self._train, self._val = train, val
        if stage == "fit":
            self._check_train_size()

    def _source(self) -> str:
        """Where the training images come from, for error messages."""
        return "in the training dataset"

    def _check_train_size(self) -> None:
        n = len(self._train)
        if self.drop_last and n < self.batch_size:
            subset = f" (train_subset={self.train_subset})" if self.train_subset else ""
            raise ValueError(
                f"found {n} training images {self._source()}{subset}, fewer than "
                f"batch_size={self.batch_size}; with drop_last=True (the default) not one batch "
                f"would train: set batch_size to at most {n}, or add images."
            )

    def _materialize(self, name: str, dataset: Any) -> tuple[Tensor, Tensor]:
        """Decode ``dataset`` once into uint8 images and labels (``in_memory``)."""
        if name not in self._cache:
            plain = PreparedImages(dataset, self, self._fixed)
            items = [plain[i] for i in range(len(plain))]
            images = torch.stack([(x * 255).round().to(torch.uint8) for x, _ in items])
            labels = torch.as_tensor([y for _, y in items])
            self._cache[name] = (images, labels)
        return self._cache[name]

    def cached_tensors(self, split: Literal["train", "val"] = "train") -> tuple[Tensor, Tensor]:
        """A whole split decoded once into memory, shared with the loaders (``in_memory``).

        Returns:
            ``(images, labels)``: uint8 ``(N, C, S, S)`` un-augmented images (after the RGB
            policy and the centre crop) and int64 ``(N,)`` labels. ``"train"`` is the
            (subset of the) training split the train loader and the train probe use.

        Raises:
            ValueError: unknown split, or ``"val"`` without a validation dataset.
        """
        self.setup()
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}.")
        data = self._train if split == "train" else self._val
        if data is None:
            raise ValueError("this data module has no validation dataset.")
        return self._materialize(split, data)

    def _plain_dataset(self, name: str, dataset: Any) -> Dataset:
        if self.in_memory:
            images, labels = self._materialize(name, dataset)
            return UInt8Images(images, labels)
        return PreparedImages(dataset, self, self._fixed)

    def _loader(self, dataset: Any, shuffle: bool, collate: Any = None) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed) if shuffle else None
        if collate is None and isinstance(dataset, UInt8Images):
            collate = collate_prebatched
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=shuffle and self.drop_last,  # only training loaders shuffle
            generator=gen,
            num_workers=self.num_workers,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (``mode``); the incomplete last one dropped (``drop_last``);
        with ``pseudo_labels``, batches of distinct labels.

        Raises:
            ValueError: as :meth:`setup` with ``stage="fit"``; a bad ``pseudo_labels`` file.
        """
        self.setup("fit")
        if self.mode == "views":
            data = PreparedImages(self._train, self, self._view_transform())
            collate: Any = views_collate
        else:
            data, collate = self._plain_dataset("train", self._train), None
        if self.pseudo_labels is None:
            return self._loader(data, True, collate)
        return self._label_batches(data, collate)

    def _label_batches(self, data: Any, collate: Any) -> DataLoader:
        assert self._full is not None
        labels = load_labels(self.pseudo_labels, len(self._full[0]))  # type: ignore[arg-type]
        if isinstance(self._train, Subset):  # train_subset: the subset's images' labels
            labels = labels[torch.as_tensor(self._train.indices)]
        sampler = DistinctLabelBatchSampler(labels, self.batch_size, seed=self.seed)
        if collate is None and isinstance(data, UInt8Images):
            collate = collate_prebatched
        return DataLoader(
            data, batch_sampler=sampler, num_workers=self.num_workers, collate_fn=collate
        )

    def _ids(self, dataset: Any, offset: int) -> list[Any]:
        """Embedding ids of ``dataset``: int positions from ``offset`` on."""
        return list(range(offset, offset + len(dataset)))

    def predict_dataloader(self) -> DataLoader:
        """Every image of ``predict_split`` once, un-augmented, as ``EmbeddingBatch(ids, images)``.

        Raises:
            ValueError: ``predict_split="val"`` without a validation dataset.
        """
        self.setup()
        assert self._full is not None
        train, val = self._full
        if self.predict_split == "val" and val is None:
            raise ValueError(
                f"{type(self).__name__} has no validation data to embed (predict_split='val'); "
                "give one, or use predict_split='train' / 'all'."
            )
        parts = []
        if self.predict_split in ("all", "train"):
            parts.append(IdentifiedImages(train, self, self._ids(train, 0)))
        if self.predict_split in ("all", "val") and val is not None:
            offset = len(train) if self.predict_split == "all" else 0
            parts.append(IdentifiedImages(val, self, self._ids(val, offset)))
        data = parts[0] if len(parts) == 1 else ConcatDataset(parts)
        return DataLoader(
            data,
            batch_size=self.batch_size,
            shuffle=False,
            drop_last=False,
            num_workers=self.num_workers,
            collate_fn=collate_embedding_batch,
        )

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """``(train, val)`` loaders of un-augmented ``(images, labels)`` for probes."""
        self.setup()
        if self._val is None:
            raise RuntimeError("probe_dataloaders needs a val_dataset (the probe's test split).")
        loaders = []
        for name, data, size in (
            ("train", self._train, self.probe_train_size),
            ("val", self._val, self.probe_val_size),
        ):
            if size < len(data):
                gen = torch.Generator().manual_seed(self.seed + 1)
                idx = torch.randperm(len(data), generator=gen)[:size].sort().values
                data = Subset(data, idx.tolist())
                name = f"{name}_probe"
            loaders.append(self._loader(self._plain_dataset(name, data), False))
        return loaders[0], loaders[1]

"""Lightning data modules for images: any torchvision-style dataset, or an ImageFolder tree.

Both serve training batches (``train_dataloader``), labelled probe data (``probe_dataloaders``)
and, for ``selfsup embed``, every image once without augmentation (``predict_dataloader``).
"""

from __future__ import annotations

import numbers
import os
import warnings
from typing import Any, Literal

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from selfsup.data import DataRootError, collate_embedding_batch, resolve_data_root
from selfsup_vision.batches import PIXEL_TOLERANCE
from selfsup_vision.data.images import (
    BAD_FILE_POLICIES,
    FOLDER_LAYOUTS,
    RGB_POLICIES,
    BadImageError,
    load_image,
    scan_folder,
    to_gray,
    to_rgb,
    to_tensor,
)
from selfsup_vision.transforms.presets import preset
from selfsup_vision.transforms.views import MultiView, multicrop_views, views_collate

__all__ = ["PREDICT_SPLITS", "ImageFiles", "ImageFolderDataModule", "TorchvisionDataModule"]

#: What ``predict_dataloader`` embeds: both splits (train first), or one of them.
PREDICT_SPLITS = ("all", "train", "val")


def _positive(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        need = "a positive int" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {need}, got {value!r}.")
    return int(value)


def _item(dataset: Any, i: int) -> tuple[Any, int]:
    """``dataset[i]`` checked to be an ``(image, label)`` pair with an int label."""
    item = dataset[i]
    if not isinstance(item, tuple | list) or len(item) != 2:
        got = f"a {type(item).__name__}"
        if isinstance(item, tuple | list):
            got += f" of length {len(item)}"
        raise ValueError(
            f"dataset item {i} must be an (image, label) pair, got {got}; wrap an unlabelled "
            "dataset so it returns (image, -1)."
        )
    image, label = item
    try:
        return image, int(label)
    except (TypeError, ValueError):
        raise ValueError(
            f"the label of item {i} must be an int (use -1 for unlabelled images), got "
            f"{label!r}; map class names to numbers in the dataset."
        ) from None


def _where(dataset: Any, i: int) -> str:
    """How an error names item ``i``: the file's path when it is one, else its index."""
    while isinstance(dataset, Subset):
        i, dataset = dataset.indices[i], dataset.dataset
    if isinstance(dataset, ImageFiles):
        return f"image {dataset.samples[i][0]!r}"
    return f"image {i}"


class ImageFiles(Dataset):
    """``(path, label)`` pairs read lazily with :func:`~selfsup_vision.data.images.load_image`.

    Yields ``(PIL image, label)`` (in the file's mode unless ``rgb`` names a policy); a corrupt
    file raises a :class:`~selfsup_vision.data.images.BadImageError` naming it.
    """

    def __init__(self, samples: list[tuple[str, int]], rgb: str | None = None) -> None:
        self.samples = samples
        self.rgb = rgb

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        path, label = self.samples[i]
        return load_image(path, self.rgb), label


class _Identified(Dataset):
    """``(id, image)`` items of a dataset: un-augmented, as the probes see them (embedding)."""

    def __init__(self, base: Any, owner: TorchvisionDataModule, ids: list[Any]) -> None:
        self.base, self.owner, self.ids = base, owner, ids

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[Any, Tensor]:
        image, _ = _item(self.base, i)
        return self.ids[i], self.owner._fixed(self.owner.prepare(image, _where(self.base, i)))


class _Prepared(Dataset):
    """A dataset whose items pass the RGB policy, the size check and a transform."""

    def __init__(self, base: Any, owner: TorchvisionDataModule, transform: Any) -> None:
        self.base, self.owner, self.transform = base, owner, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        image, label = _item(self.base, i)
        return self.transform(self.owner.prepare(image, _where(self.base, i))), label


class TorchvisionDataModule(LightningDataModule):
    """Images from any map-style dataset yielding ``(image, label)`` (every torchvision dataset).

    Images (PIL, or ``(C, H, W)`` tensors) go through the RGB policy
    (:func:`~selfsup_vision.data.images.to_rgb`, ``rgb``; ``in_channels=1`` converts to
    grayscale instead) and a size check, then

    * ``mode="images"`` (default): resized (``resize=True``: shorter side to ``image_size``,
      then centre crop) or centre-cropped to ``image_size``, as float ``(C, S, S)`` in ``[0, 1]``;
      batches ``(images, labels)``. The methods draw their views on the device (fast path).
    * ``mode="views"``: the ``torchvision.transforms.v2`` pipelines of preset ``views``
      (:class:`~selfsup_vision.transforms.MultiView`, plus ``num_local_crops`` multi-crop views
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
            _check_tensor(image, self.in_channels, where)
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
            plain = _Prepared(dataset, self, self._fixed)
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
            return _UInt8Images(images, labels)
        return _Prepared(dataset, self, self._fixed)

    def _loader(self, dataset: Any, shuffle: bool, collate: Any = None) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed) if shuffle else None
        if collate is None and isinstance(dataset, _UInt8Images):
            collate = _batched
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
        """Shuffled training batches (``mode``); the incomplete last one dropped (``drop_last``).

        Raises:
            ValueError: as :meth:`setup` with ``stage="fit"``.
        """
        self.setup("fit")
        if self.mode == "views":
            data = _Prepared(self._train, self, self._view_transform())
            return self._loader(data, True, views_collate)
        return self._loader(self._plain_dataset("train", self._train), True)

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
            parts.append(_Identified(train, self, self._ids(train, 0)))
        if self.predict_split in ("all", "val") and val is not None:
            offset = len(train) if self.predict_split == "all" else 0
            parts.append(_Identified(val, self, self._ids(val, offset)))
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


class _UInt8Images(Dataset):
    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.images[i].float() / 255.0, int(self.labels[i])

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        """A whole batch with one gather and one float conversion (used by the DataLoader)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.images[idx].float().div_(255.0), self.labels[idx]


def _check_tensor(image: Tensor, channels: int, where: str) -> None:
    """A dataset's tensor image: ``(channels, H, W)``, uint8 or finite float in ``[0, 1]``."""
    if image.dim() != 3 or image.shape[0] != channels:
        raise ValueError(
            f"{where}: expected a ({channels}, H, W) tensor, got {tuple(image.shape)}; tensors "
            "are used as they are (no RGB conversion), so return PIL images from the dataset or "
            "convert the channels yourself."
        )
    if image.dtype != torch.uint8 and not image.is_floating_point():
        raise ValueError(
            f"{where}: a {str(image.dtype).removeprefix('torch.')} tensor; tensor images must "
            "be uint8 (0..255) or floating point in [0, 1]: convert it (x.float() / max)."
        )
    if image.is_floating_point():
        bad = int((~torch.isfinite(image)).sum())
        if bad:
            raise ValueError(f"{where} has {bad} NaN/inf value(s); fix or drop it in the dataset.")
        low, high = float(image.min()), float(image.max())
        if low < -PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
            raise ValueError(
                f"{where} has values in [{low:.4g}, {high:.4g}]; float tensor images must lie in "
                "[0, 1] (0..255 floats: divide by 255; mean/std-normalised: drop the Normalize, "
                "the methods augment [0, 1] pixels themselves)."
            )


def _batched(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Collate of :class:`_UInt8Images`: ``__getitems__`` already returns the batch."""
    return batch


class ImageFolderDataModule(TorchvisionDataModule):
    """:class:`TorchvisionDataModule` over image folders: ``<root>/<split>/<class>/<image>``.

    The folder is ``root`` when it is absolute, else ``<data root>/<root>`` with the data root
    from ``data_root`` or ``$SELFSUP_DATA`` (there is no default:
    :func:`selfsup.data.resolve_data_root`). The CIFAR-10 JPEG copy works as is:
    ``root="cifar10-jpg"``, ``train_dir="train"``, ``val_dir="test"``.

    Your own images: ``root=/path/to/images, train_dir=".", val_dir=None`` reads
    ``/path/to/images/<anything>/<image>``, or loose images ``/path/to/images/<image>``
    (``layout``: ``"auto"`` picks whichever is there; see
    :func:`~selfsup_vision.data.images.scan_folder`). Images without classes get label ``-1``;
    they train and embed, but cannot feed probes. Photos of mixed sizes need ``resize=True``.

    ``predict_dataloader`` embeds every image of the train and val folders (``predict_split``):
    ids are the files' paths relative to the dataset folder, with ``/`` separators
    (``"train/cat/0001.jpg"``; ``"<anything>/<image>"`` for ``train_dir="."``).

    Args:
        root: Dataset folder, absolute or under the data root (default ``"cifar10-jpg"``).
        train_dir: Training split folder under ``root``; ``"."`` for ``root`` itself
            (default ``"train"``).
        val_dir: Probe test split folder (default ``"test"``; None for none).
        data_root: Folder of relative ``root`` s (default None: ``$SELFSUP_DATA``).
        layout: ``"classes"`` (``<split>/<class>/<image>``), ``"flat"`` (``<split>/<image>``)
            or ``"auto"`` (default: whichever the folder holds).
        bad_files: What a file that cannot be decoded does: ``"error"`` (default: stop with a
            :class:`~selfsup_vision.data.images.BadImageError` naming it, when it is read) or
            ``"skip"`` (decode every file once at setup, leave the bad ones out of training,
            probes and embedding, and warn with their count and the first few names and
            reasons).
        image_size, mode, views, num_local_crops, local_size, resize, in_channels, rgb,
            batch_size, train_subset, probe_train_size, probe_val_size, in_memory, num_workers,
            seed, predict_split, drop_last: See :class:`TorchvisionDataModule`.

    Raises:
        DataRootError: a relative ``root`` with neither ``data_root`` nor ``$SELFSUP_DATA``
            (the message names both), or a data root that does not exist.
        FileNotFoundError: missing split folders, or folders without (decodable) images.
        ValueError: bad ``layout`` / ``bad_files``; class folders that differ between the
            splits; fewer training images than ``batch_size`` (see ``drop_last``).
        BadImageError: an undecodable file under ``bad_files="error"``.

    Examples:
        >>> data = ImageFolderDataModule(root="/data/photos", train_dir=".", val_dir=None,
        ...                              resize=True, image_size=64)  # doctest: +SKIP
        >>> next(iter(data.predict_dataloader())).ids[:2]  # doctest: +SKIP
        ['2023/beach.jpg', '2023/dog.png']
    """

    def __init__(
        self,
        root: str = "cifar10-jpg",
        train_dir: str = "train",
        val_dir: str | None = "test",
        data_root: str | None = None,
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
        layout: Literal["classes", "flat", "auto"] = "auto",
        predict_split: Literal["all", "train", "val"] = "all",
        drop_last: bool = True,
        bad_files: Literal["error", "skip"] = "error",
    ) -> None:
        super().__init__(
            None,
            None,
            image_size,
            mode,
            views,
            num_local_crops,
            local_size,
            resize,
            in_channels,
            rgb,
            batch_size,
            train_subset,
            probe_train_size,
            probe_val_size,
            in_memory,
            num_workers,
            seed,
            predict_split,
            drop_last,
        )
        if layout not in FOLDER_LAYOUTS:
            raise ValueError(f"layout must be one of {FOLDER_LAYOUTS}, got {layout!r}.")
        if bad_files not in BAD_FILE_POLICIES:
            raise ValueError(
                f"bad_files must be 'error' or 'skip', got {bad_files!r}: 'error' stops at an "
                "undecodable file, 'skip' leaves such files out with a warning."
            )
        self.bad_files = bad_files
        self.root = root
        self.train_dir = train_dir
        self.val_dir = val_dir
        self.data_root = data_root
        self.layout = layout
        self.classes: list[str] = []
        self._folder: str | None = None

    def folder(self) -> str:
        """The dataset folder: ``root`` if absolute, else under ``data_root`` / ``$SELFSUP_DATA``.

        Raises:
            DataRootError: a relative ``root`` and no data root (or one that does not exist).
        """
        root = os.path.expanduser(self.root)
        if os.path.isabs(root):
            return root
        try:
            base = resolve_data_root(
                self.data_root, owner="ImageFolderDataModule", parameter="data_root"
            )
        except DataRootError as err:
            raise DataRootError(f"{err} Or give root={self.root!r} as an absolute path.") from None
        return str(base / root)

    def datasets(self) -> tuple[Any, Any]:
        self._folder = os.path.normpath(self.folder())
        train, self.classes = scan_folder(self._split(self.train_dir), self.layout)
        val = None
        if self.val_dir is not None:
            samples, classes = scan_folder(self._split(self.val_dir), self.layout)
            if classes != self.classes:
                raise ValueError(
                    f"class folders differ between {self.train_dir!r} and {self.val_dir!r}: "
                    f"{self.classes[:5]} vs {classes[:5]}."
                )
            val = samples
        if self.bad_files == "skip":
            train, val = self._without_bad_files(train, val)
        return ImageFiles(train), None if val is None else ImageFiles(val)

    def _without_bad_files(
        self, train: list[tuple[str, int]], val: list[tuple[str, int]] | None
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int]] | None]:
        """``bad_files="skip"``: decode every file once and leave out those that fail."""
        bad: list[str] = []

        def keep(samples: list[tuple[str, int]]) -> list[tuple[str, int]]:
            kept = []
            for path, label in samples:
                try:
                    load_image(path, "convert")
                except BadImageError as err:
                    rel = self._relative(path)
                    bad.append(f"{rel} ({str(err.__cause__ or err).replace(path, rel)})")
                else:
                    kept.append((path, label))
            return kept

        total = len(train) + len(val or [])
        train, val = keep(train), None if val is None else keep(val)
        if bad:
            warnings.warn(
                f"skipped {len(bad)} of {total} image files under {self._folder!r} that cannot "
                f"be decoded (bad_files='skip'): {'; '.join(bad[:5])}"
                f"{'; ...' if len(bad) > 5 else ''}.",
                stacklevel=3,
            )
        for name, samples in (("train", train), ("val", val)):
            if samples is not None and not samples:
                raise FileNotFoundError(
                    f"no decodable images left in the {name} split under {self._folder!r} "
                    "after skipping the bad files (see the warning): add images or fix the files."
                )
        return train, val

    def _relative(self, path: str) -> str:
        assert self._folder is not None
        return os.path.relpath(path, self._folder).replace(os.sep, "/")

    def _split(self, name: str) -> str:
        """The folder of split ``name`` (``"."``: the dataset folder itself)."""
        return os.path.normpath(os.path.join(self._folder or self.root, name))

    def _source(self) -> str:
        return f"under {self._split(self.train_dir)!r}"

    def _ids(self, dataset: Any, offset: int) -> list[Any]:
        """Paths of ``dataset`` 's files relative to the dataset folder, ``/``-separated."""
        return [self._relative(path) for path, _ in dataset.samples]

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """``(train, val)`` loaders of un-augmented ``(images, labels)`` for probes.

        Raises:
            RuntimeError: no ``val_dir``, or folders without classes (nothing to probe).
        """
        self.setup()
        if not self.classes:
            raise RuntimeError(
                f"the images under {self._folder!r} have no class folders, so probes have no "
                "labels; drop ProbeMonitor from the config or arrange the images as "
                "<split>/<class>/<image>."
            )
        return super().probe_dataloaders()

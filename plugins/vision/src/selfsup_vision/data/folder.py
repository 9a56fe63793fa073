"""Image folders as a Lightning data module: ``<root>/<split>/<class>/<image>`` or loose images.

:class:`ImageFolderDataModule` is :class:`~selfsup_vision.data.TorchvisionDataModule` over the
files :func:`~selfsup_vision.data.images.scan_folder` finds. This module also re-exports
``TorchvisionDataModule``, ``ImageFiles`` and ``PREDICT_SPLITS``, which lived here before
the split, so ``selfsup_vision.data.folder.<name>`` keeps working in configs and imports.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Literal

from torch.utils.data import DataLoader

from selfsup.data import DataRootError, resolve_data_root
from selfsup_vision.data._datasets import ImageFiles
from selfsup_vision.data.images import (
    BAD_FILE_POLICIES,
    FOLDER_LAYOUTS,
    BadImageError,
    load_image,
    scan_folder,
)
from selfsup_vision.data.torchvision_dataset import PREDICT_SPLITS, TorchvisionDataModule

__all__ = ["PREDICT_SPLITS", "ImageFiles", "ImageFolderDataModule", "TorchvisionDataModule"]


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
            seed, predict_split, drop_last, pseudo_labels: See :class:`TorchvisionDataModule`.

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

    # The shared options are spelled out again rather than taken as **kwargs: LightningCLI
    # (configs' init_args), --help and type checkers read this signature.
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
        pseudo_labels: str | None = None,
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
            pseudo_labels,
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

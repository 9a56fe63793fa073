"""The ``Dataset`` wrappers behind the image data modules, and the checks of one item.

:class:`ImageFiles` (public, as :class:`selfsup_vision.data.ImageFiles`) reads ``(path, label)``
pairs lazily. The other wrappers apply a data module's per-image preparation (RGB policy, size
check, tensor checks) and a transform on read, or serve an in-memory uint8 copy; they are the
package's internal API (hence the private module). Errors name the item: its file when it is
one, else its index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from selfsup_vision.batch import PIXEL_TOLERANCE
from selfsup_vision.data.images import load_image

if TYPE_CHECKING:  # the owner of a wrapper; imported for annotations only (no import cycle)
    from selfsup_vision.data.torchvision_dataset import TorchvisionDataModule

__all__ = [
    "IdentifiedImages",
    "ImageFiles",
    "PreparedImages",
    "UInt8Images",
    "check_tensor_image",
    "collate_prebatched",
]


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


class IdentifiedImages(Dataset):
    """``(id, image)`` items of a dataset: un-augmented, as the probes see them (embedding)."""

    def __init__(self, base: Any, owner: TorchvisionDataModule, ids: list[Any]) -> None:
        self.base, self.owner, self.ids = base, owner, ids

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[Any, Tensor]:
        image, _ = _item(self.base, i)
        return self.ids[i], self.owner._fixed(self.owner.prepare(image, _where(self.base, i)))


class PreparedImages(Dataset):
    """A dataset whose items pass the RGB policy, the size check and a transform."""

    def __init__(self, base: Any, owner: TorchvisionDataModule, transform: Any) -> None:
        self.base, self.owner, self.transform = base, owner, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        image, label = _item(self.base, i)
        return self.transform(self.owner.prepare(image, _where(self.base, i))), label


class UInt8Images(Dataset):
    """Images decoded once and held as uint8 ``(N, C, S, S)`` (``in_memory=True``).

    Items are ``(float image in [0, 1], label)``; a whole batch is one gather and one float
    conversion (:meth:`__getitems__`, then :func:`collate_prebatched`).
    """

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


def check_tensor_image(image: Tensor, channels: int, where: str) -> None:
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


def collate_prebatched(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Collate of :class:`UInt8Images`: ``__getitems__`` already returns the batch."""
    return batch

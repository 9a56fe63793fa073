"""Image data: folders and torchvision datasets as Lightning data modules, RGB policy."""

from selfsup_vision.data.folder import (
    PREDICT_SPLITS,
    ImageFiles,
    ImageFolderDataModule,
    TorchvisionDataModule,
)
from selfsup_vision.data.images import (
    FOLDER_LAYOUTS,
    load_image,
    scan_folder,
    to_rgb,
    to_tensor,
)

__all__ = [
    "FOLDER_LAYOUTS",
    "PREDICT_SPLITS",
    "ImageFiles",
    "ImageFolderDataModule",
    "TorchvisionDataModule",
    "load_image",
    "scan_folder",
    "to_rgb",
    "to_tensor",
]

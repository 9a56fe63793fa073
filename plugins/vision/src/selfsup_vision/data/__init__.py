"""Image data: folders and torchvision datasets as Lightning data modules, RGB policy."""

from selfsup_vision.data.folder import (
    ImageFiles,
    ImageFolderDataModule,
    TorchvisionDataModule,
    default_data_root,
)
from selfsup_vision.data.images import load_image, scan_folder, to_rgb, to_tensor

__all__ = [
    "ImageFiles",
    "ImageFolderDataModule",
    "TorchvisionDataModule",
    "default_data_root",
    "load_image",
    "scan_folder",
    "to_rgb",
    "to_tensor",
]

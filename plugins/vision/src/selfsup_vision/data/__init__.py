"""Image data: folders and torchvision datasets as Lightning data modules, RGB policy."""

from selfsup_vision.data._datasets import ImageFiles
from selfsup_vision.data.folder import ImageFolderDataModule
from selfsup_vision.data.images import (
    BAD_FILE_POLICIES,
    FOLDER_LAYOUTS,
    BadImageError,
    load_image,
    scan_folder,
    to_gray,
    to_rgb,
    to_tensor,
)
from selfsup_vision.data.shards import ImageShardsDataModule, write_image_shards
from selfsup_vision.data.torchvision_dataset import PREDICT_SPLITS, TorchvisionDataModule

__all__ = [
    "BAD_FILE_POLICIES",
    "FOLDER_LAYOUTS",
    "PREDICT_SPLITS",
    "BadImageError",
    "ImageFiles",
    "ImageFolderDataModule",
    "ImageShardsDataModule",
    "TorchvisionDataModule",
    "load_image",
    "scan_folder",
    "to_gray",
    "to_rgb",
    "to_tensor",
    "write_image_shards",
]

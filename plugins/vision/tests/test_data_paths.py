"""``selfsup_vision.data.folder`` stays a public path after the split: no warning, same objects."""

from __future__ import annotations

import importlib
import warnings

import selfsup_vision.data as data
from selfsup.plugins.registry import import_target


def test_the_folder_module_still_serves_every_name_it_had() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # configs name this path: it must not warn
        folder = importlib.import_module("selfsup_vision.data.folder")
        names = ["PREDICT_SPLITS", "ImageFiles", "ImageFolderDataModule", "TorchvisionDataModule"]
        assert folder.__all__ == names
        for name in names:
            assert getattr(folder, name) is getattr(data, name)
        for target in (
            "selfsup_vision.data.folder:ImageFolderDataModule",
            "selfsup_vision.data.folder:TorchvisionDataModule",
        ):
            assert import_target(target) is getattr(data, target.split(":")[1])


def test_the_image_folder_module_is_a_torchvision_module() -> None:
    # the folder module reuses every loader of the torchvision one (one constructor body)
    assert issubclass(data.ImageFolderDataModule, data.TorchvisionDataModule)
    assert data.ImageFolderDataModule.__module__ == "selfsup_vision.data.folder"

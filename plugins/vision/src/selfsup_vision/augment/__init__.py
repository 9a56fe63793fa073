"""Image augmentations: batched on-device (:class:`SimCLRAugment`) and data-loader pipelines
(:mod:`selfsup_vision.augment.views`, torchvision.transforms.v2), from shared presets."""

from selfsup_vision.augment.presets import (
    PRESETS,
    MultiCrop,
    ViewSpec,
    device_augments,
    device_multicrop,
    preset,
)
from selfsup_vision.augment.simclr import SimCLRAugment
from selfsup_vision.augment.views import (
    MultiView,
    multicrop_views,
    view_transform,
    views_collate,
)

__all__ = [
    "PRESETS",
    "MultiCrop",
    "MultiView",
    "SimCLRAugment",
    "ViewSpec",
    "device_augments",
    "device_multicrop",
    "multicrop_views",
    "preset",
    "view_transform",
    "views_collate",
]

"""The papers' view distributions as named presets, for both augmentation paths.

One :class:`ViewSpec` describes one view's distribution; a preset is a pair (view 1, view 2).
:func:`device_augments` turns a preset into on-device :class:`SimCLRAugment` modules (the fast
path, used inside the methods); :func:`selfsup_vision.augment.views.view_transform` turns a
:class:`ViewSpec` into a ``torchvision.transforms.v2`` pipeline (the data-loader path).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import Tensor, nn

from selfsup_vision.augment.simclr import SimCLRAugment

__all__ = [
    "PRESETS",
    "MultiCrop",
    "ViewSpec",
    "device_augments",
    "device_multicrop",
    "preset",
]


@dataclass(frozen=True)
class ViewSpec:
    """One view's augmentation parameters (probabilities per sample).

    Colour jitter factors are drawn from ``U(1 - k, 1 + k)`` (hue ``U(-hue, hue)`` turns).
    Blur: sigma ``U(blur_sigma)`` pixels, kernel side 10% of the image (SimCLR appendix A).
    """

    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip_prob: float = 0.5
    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_prob: float = 0.2
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_prob: float = 0.0


def _simclr(strength: float, blur: float) -> ViewSpec:
    # SimCLR appendix A: brightness/contrast/saturation 0.8 s, hue 0.2 s.
    return ViewSpec(
        brightness=0.8 * strength,
        contrast=0.8 * strength,
        saturation=0.8 * strength,
        hue=0.2 * strength,
        blur_prob=blur,
    )


# BYOL table 6 (ImageNet); solo-learn's CIFAR BYOL config keeps it without blur.
_BYOL = ViewSpec(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)

#: name -> (view 1, view 2).
PRESETS: dict[str, tuple[ViewSpec, ViewSpec]] = {
    # SimCLR (arXiv 2002.05709): CIFAR-10 s = 0.5 and no blur (appendix B.9); ImageNet s = 1
    # and blur with probability 0.5.
    "simclr-cifar": (_simclr(0.5, 0.0), _simclr(0.5, 0.0)),
    "simclr-imagenet": (_simclr(1.0, 0.5), _simclr(1.0, 0.5)),
    # BYOL (arXiv 2006.07733, table 6): asymmetric blur (1.0 / 0.1) and solarisation (0 / 0.2).
    "byol-imagenet": (
        replace(_BYOL, blur_prob=1.0),
        replace(_BYOL, blur_prob=0.1, solarize_prob=0.2),
    ),
    "byol-cifar": (_BYOL, replace(_BYOL, solarize_prob=0.2)),
}


def preset(name: str) -> tuple[ViewSpec, ViewSpec]:
    """The ``(view 1, view 2)`` specs of a preset.

    Raises:
        ValueError: unknown name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown view preset {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]


def _device_augment(spec: ViewSpec, output_size: int | None = None) -> SimCLRAugment:
    return SimCLRAugment(
        crop_scale_min=spec.crop_scale[0],
        crop_scale_max=spec.crop_scale[1],
        flip_prob=spec.flip_prob,
        jitter_prob=spec.jitter_prob,
        brightness=spec.brightness,
        contrast=spec.contrast,
        saturation=spec.saturation,
        hue=spec.hue,
        grayscale_prob=spec.grayscale_prob,
        blur_prob=spec.blur_prob,
        blur_sigma_min=spec.blur_sigma[0],
        blur_sigma_max=spec.blur_sigma[1],
        solarize_prob=spec.solarize_prob,
        output_size=output_size,
    )


def device_augments(name: str) -> tuple[SimCLRAugment, SimCLRAugment]:
    """On-device augmentation modules for the two views of a preset."""
    first, second = preset(name)
    return _device_augment(first), _device_augment(second)


class MultiCrop(nn.Module):
    """Multi-crop views drawn on the device: two global views, then ``num_local`` local ones.

    Shapes:
        images ``(B, C, H, W)`` -> ``[(B, C, H, W)] * 2 + [(B, C, S, S)] * num_local``.
    """

    def __init__(
        self, glob1: SimCLRAugment, glob2: SimCLRAugment, local: SimCLRAugment, num_local: int
    ) -> None:
        super().__init__()
        if num_local < 0:
            raise ValueError(f"num_local must be >= 0, got {num_local}.")
        self.globals_ = nn.ModuleList([glob1, glob2])
        self.local = local
        self.num_local = int(num_local)

    def forward(self, images: Tensor) -> list[Tensor]:
        views = [self.globals_[0](images), self.globals_[1](images)]
        if self.num_local:  # all local crops in one call
            local = self.local(images.repeat(self.num_local, 1, 1, 1))
            views += list(local.chunk(self.num_local))
        return views


def device_multicrop(
    name: str,
    local_size: int,
    num_local: int,
    global_scale: tuple[float, float] | None = None,
    local_scale: tuple[float, float] = (0.05, 0.14),
) -> MultiCrop:
    """On-device multi-crop (SwAV arXiv 2006.09882, DINO arXiv 2104.14294): the preset's two
    global views (crop area ``global_scale``, default the preset's) at the input size, and
    ``num_local`` local views: view 1's distribution with crop area ``local_scale``, cropped to
    ``local_size``. The loader-path twin is :func:`~selfsup_vision.augment.views.multicrop_views`.

    Examples:
        >>> import torch
        >>> crops = device_multicrop("byol-cifar", 16, 4, (0.4, 1.0), (0.05, 0.4))
        >>> [tuple(v.shape) for v in crops(torch.rand(2, 3, 32, 32))][1:3]
        [(2, 3, 32, 32), (2, 3, 16, 16)]
    """
    first, second = preset(name)
    if global_scale is not None:
        first, second = (replace(v, crop_scale=tuple(global_scale)) for v in (first, second))
    local = replace(first, crop_scale=tuple(local_scale))
    return MultiCrop(
        _device_augment(first),
        _device_augment(second),
        _device_augment(local, local_size),
        num_local,
    )

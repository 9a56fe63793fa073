"""Data-loader view pipelines with ``torchvision.transforms.v2`` (the papers' parameters)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from selfsup_vision.augment.presets import ViewSpec, preset

__all__ = ["MultiView", "multicrop_views", "view_transform", "views_collate"]


def view_transform(spec: ViewSpec, size: int) -> Callable[[Any], Tensor]:
    """One view's ``torchvision.transforms.v2`` pipeline: PIL/tensor image -> float ``(C, S, S)``.

    ``ToImage``, ``ToDtype(float32, scale=True)``, ``RandomResizedCrop(size, spec.crop_scale)``,
    ``RandomHorizontalFlip``, ``RandomApply(ColorJitter)``, ``RandomGrayscale``, then (when their
    probability is positive) ``RandomApply(GaussianBlur)`` with a kernel of 10% of ``size``
    (odd) and ``RandomSolarize(0.5)``.
    """
    from torchvision.transforms import v2

    ops: list[Any] = [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.RandomResizedCrop(size, scale=spec.crop_scale, antialias=True),
        v2.RandomHorizontalFlip(spec.flip_prob),
        v2.RandomApply(
            [v2.ColorJitter(spec.brightness, spec.contrast, spec.saturation, spec.hue)],
            p=spec.jitter_prob,
        ),
        v2.RandomGrayscale(spec.grayscale_prob),
    ]
    if spec.blur_prob > 0:
        kernel = max(3, int(0.1 * size) // 2 * 2 + 1)
        ops.append(v2.RandomApply([v2.GaussianBlur(kernel, spec.blur_sigma)], p=spec.blur_prob))
    if spec.solarize_prob > 0:
        ops.append(v2.RandomSolarize(0.5, p=spec.solarize_prob))
    return v2.Compose(ops)


class MultiView:
    """Apply several view pipelines to one image: ``image -> [view_1, ..., view_V]``.

    Args:
        transforms: One callable per view (the first two are the global views).

    Raises:
        ValueError: fewer than 2 transforms.
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Tensor]]) -> None:
        if len(transforms) < 2:
            raise ValueError(f"MultiView needs at least 2 view transforms, got {len(transforms)}.")
        self.transforms = list(transforms)

    @classmethod
    def from_preset(cls, name: str, size: int) -> MultiView:
        """The two views of a preset of :data:`selfsup_vision.augment.PRESETS`."""
        first, second = preset(name)
        return cls([view_transform(first, size), view_transform(second, size)])

    def __call__(self, image: Any) -> list[Tensor]:
        return [t(image) for t in self.transforms]


def multicrop_views(
    name: str,
    size: int,
    num_local: int,
    local_size: int,
    global_scale: tuple[float, float] = (0.14, 1.0),
    local_scale: tuple[float, float] = (0.05, 0.14),
) -> MultiView:
    """Multi-crop (SwAV, arXiv 2006.09882): 2 global views of ``size`` + ``num_local`` small ones.

    Global crops cover ``global_scale`` of the image, local crops ``local_scale`` (SwAV's
    ImageNet values 0.14/0.05); local crops use view 1's colour distribution.
    """
    first, second = preset(name)
    glob = [replace(s, crop_scale=global_scale) for s in (first, second)]
    local = replace(first, crop_scale=local_scale)
    return MultiView(
        [view_transform(glob[0], size), view_transform(glob[1], size)]
        + [view_transform(local, local_size) for _ in range(num_local)]
    )


def views_collate(samples: list[tuple[list[Tensor], Any]]) -> dict[str, Any]:
    """Collate ``(views, label)`` samples into ``{"views": [(B, C, H, W), ...], "labels": y}``."""
    num_views = len(samples[0][0])
    views = [torch.stack([s[0][v] for s in samples]) for v in range(num_views)]
    return {"views": views, "labels": torch.as_tensor([int(s[1]) for s in samples])}

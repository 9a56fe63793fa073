"""Image batch formats accepted by the vision methods, validated in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from selfsup.checks import finite_checks_enabled, unpack_labelled
from selfsup.experiment.method import MalformedBatchError

__all__ = ["PIXEL_TOLERANCE", "ImageBatch", "parse_image_batch", "parse_vit_images"]

#: How far float pixels may stray outside ``[0, 1]`` (interpolation rounding) before refusal.
PIXEL_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ImageBatch:
    """A validated batch: un-augmented ``images`` or pre-drawn ``views`` (exactly one is set).

    Attributes:
        images: ``(B, C, H, W)`` floating images in ``[0, 1]`` (views are drawn on device).
        views: ``V >= 2`` tensors ``(B, C, H_v, W_v)``; the first two are the global views,
            the others local crops (multi-crop).
        labels: Labels when the batch carried them (ignored by the methods).
    """

    images: Tensor | None
    views: list[Tensor] | None
    labels: Any = None

    @property
    def first(self) -> Tensor:
        """The un-augmented images, or the first global view of a views batch ``(B, C, H, W)``."""
        return self.images if self.images is not None else self.views[0]  # type: ignore[index]

    @property
    def batch_size(self) -> int:
        return int(self.first.shape[0])


def _check_images(x: Any, in_channels: int, owner: str, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise MalformedBatchError(
            f"{owner} expects {what} as a tensor (B, C, H, W), got {type(x).__name__}; batches are "
            "images, (images, labels) pairs or {'views': [view, ...], 'labels': y} dicts."
        )
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise MalformedBatchError(
            f"{owner} expects {what} of shape (B, {in_channels}, H, W), got {tuple(x.shape)}; set "
            "in_channels or add the channel dimension (grayscale: convert to RGB in the data "
            "module, see selfsup_vision.data)."
        )
    if not x.is_floating_point():
        raise MalformedBatchError(
            f"{owner} expects floating-point {what} in [0, 1], got {x.dtype}; convert uint8 "
            "images with images.float() / 255."
        )
    return x


def _check_values(tensors: list[Tensor], names: list[str], owner: str) -> None:
    """Finite pixels in ``[0, 1]``: a min/max per tensor, one device read-back for all."""
    if not finite_checks_enabled():
        return
    present = [(x, what) for x, what in zip(tensors, names, strict=True) if x.numel()]
    if not present:
        return
    ends = torch.stack([torch.stack(torch.aminmax(x.detach())).float() for x, _ in present])
    for (low, high), (x, what) in zip(ends.tolist(), present, strict=True):  # NaN reaches both
        if not (math.isfinite(low) and math.isfinite(high)):
            bad = int((~torch.isfinite(x)).sum())
            raise MalformedBatchError(
                f"{owner} got {bad} NaN/inf value(s) in {what}, refused before the encoder; fix "
                "the data module or transform that produced them "
                "(selfsup.checks.set_finite_checks(False) skips this check)."
            )
        if low < -PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
            raise MalformedBatchError(
                f"{owner} expects {what} in [0, 1], got values in [{low:.4g}, {high:.4g}]; 0..255 "
                "floats: divide by 255; mean/std-normalised images: drop the Normalize (the "
                "methods' augmentations work on, and clamp to, [0, 1] pixels)."
            )


def parse_image_batch(batch: Any, in_channels: int, owner: str) -> ImageBatch:
    """Validate a batch and say which form it has.

    Accepted: images ``(B, C, H, W)``; an ``(images, labels)`` pair (torchvision datasets' default
    collation; labels may be None); a dict ``{"views": [v1, v2, ...], "labels": y}`` of views
    already augmented in the data loader (:class:`~selfsup_vision.augment.MultiView`).

    Every tensor must be floating point, finite and in ``[0, 1]`` (give or take
    :data:`PIXEL_TOLERANCE`), so NaN/inf or 0..255 / mean-std-normalised pixels are refused here,
    naming the input (``images``, ``view 1``), rather than deep inside the encoder or silently
    clamped by the augmentation. The value check costs a min/max reduction per tensor and one
    device read-back per batch; :func:`selfsup.checks.set_finite_checks` (``False``) turns it
    off with core's finite checks.

    Raises:
        MalformedBatchError: anything else, with what was expected.
    """
    if isinstance(batch, dict) and "views" in batch:
        views = batch["views"]
        if not isinstance(views, list | tuple) or len(views) < 2:
            got = len(views) if isinstance(views, list | tuple) else type(views).__name__
            raise MalformedBatchError(
                f"{owner} expects batch['views'] to be a list of at least 2 views, got {got}."
            )
        checked = [_check_images(v, in_channels, owner, f"view {i}") for i, v in enumerate(views)]
        sizes = {int(v.shape[0]) for v in checked}
        if len(sizes) != 1:
            raise MalformedBatchError(f"{owner}: views have different batch sizes {sorted(sizes)}.")
        if checked[0].shape != checked[1].shape:
            raise MalformedBatchError(
                f"{owner}: the two global views (views 0 and 1) must have the same shape, got "
                f"{tuple(checked[0].shape)} and {tuple(checked[1].shape)}."
            )
        _check_values(checked, [f"view {i}" for i in range(len(checked))], owner)
        return ImageBatch(None, checked, batch.get("labels"))
    images, labels, _ = unpack_labelled(
        batch,
        owner,
        "images (B, C, H, W)",
        hint="pass un-augmented images (the method draws its views) or a {'views': [...]} dict.",
    )
    checked_images = _check_images(images, in_channels, owner, "images")
    _check_values([checked_images], ["images"], owner)
    return ImageBatch(checked_images, None, labels)


def parse_vit_images(batch: Any, in_channels: int, owner: str, image_size: int) -> Tensor:
    """The plain images of a batch (:attr:`ImageBatch.first`) for a ViT of side ``image_size``.

    A ViT's patch grid is fixed at construction, so images of another size are refused here,
    before the patch embedding fails on a shape.

    Shapes:
        returns: ``(B, in_channels, image_size, image_size)``.

    Raises:
        MalformedBatchError: as :func:`parse_image_batch`, or images that are not
            ``image_size x image_size``.

    Examples:
        >>> parse_vit_images(torch.rand(2, 3, 8, 8), 3, "MAE", 8).shape
        torch.Size([2, 3, 8, 8])
    """
    images = parse_image_batch(batch, in_channels, owner).first
    if tuple(images.shape[-2:]) != (image_size, image_size):
        raise MalformedBatchError(
            f"{owner}'s ViT takes {image_size}x{image_size} images, got "
            f"{tuple(images.shape[-2:])}; resize in the data module or build the ViTEncoder with "
            "image_size matching the data."
        )
    return images

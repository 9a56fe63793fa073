"""SimCLR's image augmentations, batched and on the images' device, in pure torch."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from selfsup.checks import check_probability
from selfsup.precision import autocast_off

__all__ = ["SimCLRAugment"]

# RGB -> YIQ (NTSC); hue jitter rotates the chroma plane (I, Q).
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64
)
_LUMA = (0.299, 0.587, 0.114)


def _gray(x: Tensor) -> Tensor:
    """Luma ``(B, 1, H, W)`` of RGB images, or the channel mean of other images."""
    if x.shape[1] == 3:
        w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def _per_sample(values: Tensor, x: Tensor) -> Tensor:
    return values.to(x.dtype).view(-1, 1, 1, 1)


class SimCLRAugment(nn.Module):
    """The SimCLR view distribution (Chen et al., arXiv 2002.05709, appendix A), per sample.

    In order: random resized crop back to the input size or to ``output_size`` (area fraction
    ``s ~ U(crop_scale)``, log aspect ratio ``~ U(log crop_ratio)``, bilinear),
    horizontal flip, then with probability ``jitter_prob`` colour jitter (brightness
    ``x * b``, contrast ``(x - mean) * c + mean``, saturation ``gray + s (x - gray)``,
    hue: rotation of the YIQ chroma plane by ``2 pi h``, factors ``b, c, s ~ U(1 - k, 1 + k)``,
    ``h ~ U(-hue, hue)``; values clamped to ``[0, 1]`` after each step), then grayscale with
    probability ``grayscale_prob``, then Gaussian blur with probability ``blur_prob`` (kernel
    side ``2 floor(blur_kernel_frac * H / 2) + 1``, ``sigma ~ U(blur_sigma)`` in pixels,
    reflect padding) and solarisation (``x -> 1 - x`` where ``x >= 0.5``) with probability
    ``solarize_prob`` (BYOL, arXiv 2006.07733, table 6: view 1 blur 1.0 / solarize 0, view 2
    blur 0.1 / solarize 0.2; both 0 by default, SimCLR's CIFAR-10 setting). Images with
    ``C != 3`` get crop, flip, brightness, contrast, blur and solarisation only. Random numbers
    come from torch's global RNG on the images' device.

    Unlike torchvision's ``RandomResizedCrop``, a crop larger than the image is clamped to
    the image instead of re-sampled, and the jitter order is fixed.

    Args:
        crop_scale_min: Smallest crop area fraction (default 0.08).
        crop_scale_max: Largest crop area fraction (default 1.0).
        crop_ratio_min: Smallest crop aspect ratio width/height (default 3/4).
        crop_ratio_max: Largest crop aspect ratio (default 4/3).
        flip_prob: Horizontal flip probability (default 0.5).
        jitter_prob: Colour-jitter probability (default 0.8).
        brightness: Brightness strength ``k`` (default 0.4 = 0.8 * SimCLR's s=0.5).
        contrast: Contrast strength (default 0.4).
        saturation: Saturation strength (default 0.4).
        hue: Hue strength in turns, at most 0.5 (default 0.1 = 0.2 * s).
        grayscale_prob: Grayscale probability (default 0.2).
        blur_prob: Gaussian-blur probability (default 0).
        blur_sigma_min: Smallest blur sigma in pixels (default 0.1).
        blur_sigma_max: Largest blur sigma in pixels (default 2.0).
        blur_kernel_frac: Kernel side as a fraction of the image height (default 0.1).
        solarize_prob: Solarisation probability (default 0).
        output_size: Side of the (square) output crop (default None: the input's ``H x W``);
            multi-crop's small local views (DINO, SwAV) set it.

    Shapes:
        images: ``(B, C, H, W)`` floating point in ``[0, 1]`` -> ``(B, C, H, W)``, or
        ``(B, C, S, S)`` with ``output_size=S``.
    """

    def __init__(
        self,
        crop_scale_min: float = 0.08,
        crop_scale_max: float = 1.0,
        crop_ratio_min: float = 3.0 / 4.0,
        crop_ratio_max: float = 4.0 / 3.0,
        flip_prob: float = 0.5,
        jitter_prob: float = 0.8,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        grayscale_prob: float = 0.2,
        blur_prob: float = 0.0,
        blur_sigma_min: float = 0.1,
        blur_sigma_max: float = 2.0,
        blur_kernel_frac: float = 0.1,
        solarize_prob: float = 0.0,
        output_size: int | None = None,
    ) -> None:
        super().__init__()
        if output_size is not None and output_size < 1:
            raise ValueError(
                f"output_size must be >= 1 or None (the input size), got {output_size}."
            )
        if not 0.0 < crop_scale_min <= crop_scale_max <= 1.0:
            raise ValueError(
                "need 0 < crop_scale_min <= crop_scale_max <= 1, got "
                f"({crop_scale_min}, {crop_scale_max})."
            )
        if not 0.0 < crop_ratio_min <= crop_ratio_max:
            raise ValueError(
                "need 0 < crop_ratio_min <= crop_ratio_max, got "
                f"({crop_ratio_min}, {crop_ratio_max})."
            )
        for name, p in (
            ("flip_prob", flip_prob),
            ("jitter_prob", jitter_prob),
            ("grayscale_prob", grayscale_prob),
            ("blur_prob", blur_prob),
            ("solarize_prob", solarize_prob),
        ):
            check_probability(name, p, inclusive_high=True)
        if not 0.0 < blur_sigma_min <= blur_sigma_max:
            raise ValueError(
                f"need 0 < blur_sigma_min <= blur_sigma_max, got ({blur_sigma_min}, "
                f"{blur_sigma_max})."
            )
        if not 0.0 < blur_kernel_frac <= 1.0:
            raise ValueError(f"blur_kernel_frac must lie in (0, 1], got {blur_kernel_frac}.")
        for name, k in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            if k < 0:
                raise ValueError(f"{name} must be >= 0, got {k}.")
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f"hue must lie in [0, 0.5] turns, got {hue}.")
        self.crop_scale = (float(crop_scale_min), float(crop_scale_max))
        self.crop_log_ratio = (math.log(crop_ratio_min), math.log(crop_ratio_max))
        self.flip_prob = float(flip_prob)
        self.jitter_prob = float(jitter_prob)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue = float(hue)
        self.grayscale_prob = float(grayscale_prob)
        self.blur_prob = float(blur_prob)
        self.blur_sigma = (float(blur_sigma_min), float(blur_sigma_max))
        self.blur_kernel_frac = float(blur_kernel_frac)
        self.solarize_prob = float(solarize_prob)
        self.output_size = None if output_size is None else int(output_size)

    def _uniform(self, n: int, low: float, high: float, x: Tensor) -> Tensor:
        return torch.rand(n, device=x.device) * (high - low) + low

    def resized_crop_and_flip(self, images: Tensor) -> Tensor:
        """Random resized crop and horizontal flip (one affine ``grid_sample``)."""
        b, _, h, w = images.shape
        area = self._uniform(b, *self.crop_scale, images)
        ratio = torch.exp(self._uniform(b, *self.crop_log_ratio, images))
        # Crop size relative to the image: (w_rel W) / (h_rel H) = ratio, w_rel h_rel = area.
        width = torch.sqrt(area * ratio * h / w).clamp(max=1.0)
        height = torch.sqrt(area / ratio * w / h).clamp(max=1.0)
        cx = (torch.rand(b, device=images.device) * 2 - 1) * (1 - width)
        cy = (torch.rand(b, device=images.device) * 2 - 1) * (1 - height)
        flip = torch.rand(b, device=images.device) < self.flip_prob
        theta = torch.zeros(b, 2, 3, device=images.device, dtype=images.dtype)
        theta[:, 0, 0] = torch.where(flip, -width, width)
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = height
        theta[:, 1, 2] = cy
        size = [b, images.shape[1], h, w]
        if self.output_size is not None:
            size[2:] = [self.output_size, self.output_size]
        grid = F.affine_grid(theta, size, align_corners=False)
        return F.grid_sample(
            images, grid, mode="bilinear", padding_mode="border", align_corners=False
        )

    def color_jitter(self, images: Tensor) -> Tensor:
        """Brightness, contrast, saturation and hue jitter, each sample with ``jitter_prob``."""
        x = images
        b = x.shape[0]
        on = torch.rand(b, device=x.device) < self.jitter_prob

        def factor(strength: float) -> Tensor:
            f = self._uniform(b, max(0.0, 1.0 - strength), 1.0 + strength, x)
            return _per_sample(torch.where(on, f, torch.ones_like(f)), x)

        bright, contrast, sat = (
            factor(self.brightness),
            factor(self.contrast),
            factor(self.saturation),
        )
        turns = self._uniform(b, -self.hue, self.hue, x)
        turns = torch.where(on, turns, torch.zeros_like(turns))
        x = (x * bright).clamp(0.0, 1.0)
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * contrast + mean).clamp(0.0, 1.0)
        if x.shape[1] != 3:
            return x
        gray = _gray(x)
        x = (gray + sat * (x - gray)).clamp(0.0, 1.0)
        to_yiq = _RGB_TO_YIQ.to(device=x.device)
        angle = 2 * math.pi * turns.to(torch.float64)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.zeros(b, 3, 3, device=x.device, dtype=torch.float64)
        rot[:, 0, 0] = 1.0
        rot[:, 1, 1], rot[:, 1, 2] = cos, -sin
        rot[:, 2, 1], rot[:, 2, 2] = sin, cos
        mix = (torch.linalg.inv(to_yiq) @ rot @ to_yiq).to(x.dtype)
        return torch.einsum("bij,bjhw->bihw", mix, x).clamp(0.0, 1.0)

    def grayscale(self, images: Tensor) -> Tensor:
        """Replace RGB images by their luma with ``grayscale_prob``."""
        pick = torch.rand(images.shape[0], device=images.device) < self.grayscale_prob
        if images.shape[1] != 3:
            return images
        gray = _gray(images).expand_as(images)
        return torch.where(pick.view(-1, 1, 1, 1), gray, images)

    def gaussian_blur(self, images: Tensor) -> Tensor:
        """Separable Gaussian blur of each sample with ``blur_prob`` (one grouped conv per axis)."""
        if self.blur_prob == 0.0:
            return images
        b, c, h, w = images.shape
        radius = int(self.blur_kernel_frac * h / 2)
        if radius < 1 or min(h, w) <= radius:  # a 1-pixel kernel is the identity
            return images
        pick = torch.rand(b, device=images.device) < self.blur_prob
        sigma = self._uniform(b, *self.blur_sigma, images)
        t = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
        kernel = torch.exp(-(t[None] ** 2) / (2 * sigma[:, None].to(images.dtype) ** 2))
        kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, dim=0)
        x = images.reshape(1, b * c, h, w)
        x = F.conv2d(
            F.pad(x, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=b * c
        )
        x = F.conv2d(
            F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=b * c
        )
        return torch.where(pick.view(-1, 1, 1, 1), x.view(b, c, h, w), images)

    def solarize(self, images: Tensor) -> Tensor:
        """``x -> 1 - x`` for pixels ``>= 0.5``, each sample with ``solarize_prob``."""
        if self.solarize_prob == 0.0:
            return images
        pick = torch.rand(images.shape[0], device=images.device) < self.solarize_prob
        flipped = torch.where(images >= 0.5, 1.0 - images, images)
        return torch.where(pick.view(-1, 1, 1, 1), flipped, images)

    @autocast_off  # views are data: the blur convolutions stay in the images' dtype
    def forward(self, images: Tensor) -> Tensor:
        if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
            got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be a floating (B, C, H, W) tensor, got {got}.")
        x = self.grayscale(self.color_jitter(self.resized_crop_and_flip(images)))
        return self.solarize(self.gaussian_blur(x))

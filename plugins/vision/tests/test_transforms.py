"""View presets (the papers' parameters), torchvision.transforms.v2 pipelines, blur/solarize."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from selfsup_vision.augment import (
    PRESETS,
    MultiView,
    SimCLRAugment,
    device_augments,
    multicrop_views,
    preset,
)

FIXED = {
    "crop_scale_min": 1.0,
    "crop_ratio_min": 1.0,
    "crop_ratio_max": 1.0,
    "flip_prob": 0.0,
    "jitter_prob": 0.0,
    "grayscale_prob": 0.0,
}


def test_presets_follow_the_papers() -> None:
    cifar = preset("simclr-cifar")[0]  # SimCLR s = 0.5: 0.8 s and 0.2 s, no blur
    assert (cifar.brightness, cifar.saturation, cifar.hue, cifar.blur_prob) == (0.4, 0.4, 0.1, 0.0)
    imagenet = preset("simclr-imagenet")[0]
    assert (imagenet.brightness, imagenet.hue, imagenet.blur_prob) == (0.8, 0.2, 0.5)
    v1, v2 = preset("byol-imagenet")  # BYOL table 6: asymmetric blur and solarisation
    assert (v1.blur_prob, v2.blur_prob, v1.solarize_prob, v2.solarize_prob) == (1.0, 0.1, 0.0, 0.2)
    assert (v1.saturation, v1.jitter_prob, v1.grayscale_prob) == (0.2, 0.8, 0.2)
    a1, a2 = device_augments("byol-imagenet")
    assert (a1.blur_prob, a2.solarize_prob) == (1.0, 0.2)
    with pytest.raises(ValueError, match="unknown view preset"):
        preset("moco")
    assert set(PRESETS) >= {"simclr-cifar", "simclr-imagenet", "byol-cifar", "byol-imagenet"}


def test_device_solarize_flips_bright_pixels() -> None:
    x = torch.tensor([0.2, 0.5, 0.9]).view(1, 1, 1, 3).expand(2, 3, 1, 3).contiguous()
    out = SimCLRAugment(solarize_prob=1.0, **FIXED).solarize(x)
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.2, 0.5, 0.1]))


def test_device_blur_is_a_normalised_gaussian() -> None:
    aug = SimCLRAugment(
        blur_prob=1.0, blur_sigma_min=1.0, blur_sigma_max=1.0, blur_kernel_frac=0.25, **FIXED
    )
    flat = torch.full((2, 3, 16, 16), 0.3)
    torch.testing.assert_close(aug.gaussian_blur(flat), flat)
    impulse = torch.zeros(1, 1, 16, 16)
    impulse[0, 0, 8, 8] = 1.0
    out = aug.gaussian_blur(impulse)[0, 0]
    g = torch.exp(-(torch.arange(-2.0, 3.0) ** 2) / 2)
    g = g / g.sum()  # radius int(0.25 * 16 / 2) = 2
    torch.testing.assert_close(out[6:11, 6:11], torch.outer(g, g))


def test_device_views_ignore_autocast() -> None:
    """Under bf16-mixed training the views stay float32 and identical (blur is a conv2d)."""
    aug = device_augments("byol-imagenet")[0]
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    plain = aug(images)
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = aug(images)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, plain, rtol=0, atol=0)


def test_torchvision_views_are_float_images_of_the_crop_size() -> None:
    image = Image.new("RGB", (20, 14), (120, 30, 200))
    views = MultiView.from_preset("byol-imagenet", 12)(image)
    assert len(views) == 2
    for v in views:
        assert v.shape == (3, 12, 12) and v.dtype == torch.float32 and 0 <= v.min() <= v.max() <= 1
    crops = multicrop_views("simclr-cifar", 12, num_local=3, local_size=6)(image)
    assert [tuple(v.shape) for v in crops] == [(3, 12, 12)] * 2 + [(3, 6, 6)] * 3
    with pytest.raises(ValueError, match="at least 2"):
        MultiView([lambda x: x])

"""Gaussian-noise views: the simplest augmentation, a stand-in for your domain's."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gaussian_noise_views"]


def gaussian_noise_views(
    x: Tensor, std: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Two independently perturbed copies ``x + std * eps``, ``eps ~ N(0, I)``.

    Shapes:
        x: ``(B, F)`` -> two ``(B, F)`` tensors.

    Raises:
        ValueError: ``std < 0``.

    Examples:
        >>> v1, v2 = gaussian_noise_views(torch.zeros(2, 3), 0.0)
        >>> bool((v1 == 0).all() and (v2 == 0).all())
        True
    """
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}.")
    noise = torch.randn((2, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    return x + std * noise[0], x + std * noise[1]

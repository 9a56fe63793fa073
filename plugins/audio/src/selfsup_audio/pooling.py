"""Pooling of patch tokens over their non-padded positions (clip embeddings, the fine-tuning
head)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["band_mean", "masked_mean"]


def masked_mean(x: Tensor, padding_mask: Tensor) -> Tensor:
    """Mean over the non-padded positions: ``sum_t (1 - p_t) x_t / sum_t (1 - p_t)``.

    Shapes:
        x ``(B, L, D)``, padding_mask ``(B, L)`` (True = padding) -> ``(B, D)``.
    """
    keep = (~padding_mask).to(x.dtype)[..., None]
    return (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


def band_mean(x: Tensor, padding_mask: Tensor, freq_patches: int) -> Tensor:
    """Per-frequency-band mean over the non-padded time patches, bands concatenated.

    Keeps the frequency layout that a single mean over all patches averages away (as time-mean
    pooling of raw fbanks keeps every mel bin). Patches are time-major (``t * F' + f``).

    Shapes:
        x ``(B, T' F', D)``, padding_mask ``(B, T' F')`` -> ``(B, F' D)``.
    """
    b, n, d = x.shape
    bands = x.view(b, n // freq_patches, freq_patches, d)
    keep = (~padding_mask).view(b, n // freq_patches, freq_patches).to(x.dtype)[..., None]
    return ((bands * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)).flatten(1)

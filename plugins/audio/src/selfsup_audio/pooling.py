"""Pooling of patch tokens over their non-padded positions (clip embeddings, the fine-tuning
head)."""

from __future__ import annotations

import torch
from torch import Tensor

# one masked_mean for every plugin (an all-padding row raises); re-exported for audio code
from selfsup.encoders.pooling import masked_mean

__all__ = ["band_mean", "masked_mean", "segment_mean"]


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


def segment_mean(x: Tensor, padding_mask: Tensor, segments: int, freq_patches: int = 1) -> Tensor:
    """Means over ``segments`` equal stretches of each clip's real time steps, concatenated.

    A single mean over time is a bag of frames: it cannot tell "one" (/w ah n/) from a clip with
    the same sounds in another order. Cutting every clip, whatever its length, into ``K`` equal
    parts keeps a coarse order at a cost of ``K`` times the dimension. With ``freq_patches =
    F' > 1`` the tokens are time-major patches (``t * F' + f``) and are first averaged over
    their ``F'`` frequency bands. Time step ``t`` of a clip with ``L`` real steps belongs to
    segment ``floor(t K / L)``; a segment left empty (``L < K``) takes step
    ``floor((k + 1/2) L / K)``.

    Shapes:
        x ``(B, T F', D)``, padding_mask ``(B, T F')`` (True = padding, whole trailing time
        steps) -> ``(B, K D)``.

    Raises:
        ValueError: ``segments < 1`` or a length not divisible by ``freq_patches``.

    Examples:
        >>> x = torch.arange(6.0).view(1, 6, 1)
        >>> segment_mean(x, torch.zeros(1, 6, dtype=torch.bool), 3)
        tensor([[0.5000, 2.5000, 4.5000]])
        >>> segment_mean(x, torch.tensor([[False] * 4 + [True] * 2]), 2)
        tensor([[0.5000, 2.5000]])
    """
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}.")
    b, n, d = x.shape
    if n % freq_patches:
        raise ValueError(f"{n} tokens are not whole time steps of {freq_patches} bands.")
    steps = n // freq_patches
    keep = (~padding_mask).view(b, steps, freq_patches).to(x.dtype)
    frames = (x.view(b, steps, freq_patches, d) * keep[..., None]).sum(2)
    frames = frames / keep.sum(2, keepdim=True).clamp(min=1.0)
    real = keep[:, :, 0] > 0  # (B, T)
    length = real.sum(1).clamp(min=1)  # (B,)
    t = torch.arange(steps, device=x.device)
    seg = torch.div(t[None, :] * segments, length[:, None], rounding_mode="floor")
    out = []
    for k in range(segments):
        w = ((seg == k) & real).to(x.dtype)  # (B, T)
        empty = w.sum(1) == 0
        fallback = torch.div((2 * k + 1) * length, 2 * segments, rounding_mode="floor")
        w[empty, fallback[empty]] = 1.0
        out.append((frames * w[..., None]).sum(1) / w.sum(1, keepdim=True))
    return torch.cat(out, dim=1)

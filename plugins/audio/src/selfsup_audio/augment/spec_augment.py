"""SpecAugment time/frequency masking and mixup on padded fbank batches."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mixup", "spec_augment"]


def _check(fbank: Tensor, padding_mask: Tensor | None) -> Tensor:
    if fbank.dim() != 3 or not fbank.is_floating_point():
        raise ValueError(f"fbank must be a float (B, T, F) tensor, got {tuple(fbank.shape)}.")
    if padding_mask is None:
        return torch.zeros(fbank.shape[:2], dtype=torch.bool, device=fbank.device)
    if padding_mask.shape != fbank.shape[:2] or padding_mask.dtype != torch.bool:
        raise ValueError(
            f"padding_mask must be bool (B, T) = {tuple(fbank.shape[:2])}, got "
            f"{padding_mask.dtype} {tuple(padding_mask.shape)}."
        )
    return padding_mask


def _bands(
    b: int,
    size: int,
    count: int,
    max_width: int,
    limit: Tensor,
    generator: torch.Generator | None,
    device: torch.device,
) -> Tensor:
    """``(B, size)`` bool: ``count`` bands per row of width ``U[0, max_width]`` starting in
    ``U[0, limit_b - width]`` (``limit`` per row: the real length)."""
    pos = torch.arange(size, device=device)
    out = torch.zeros(b, size, dtype=torch.bool, device=device)
    for _ in range(count):
        width = torch.randint(0, max_width + 1, (b,), generator=generator).to(device)
        width = torch.minimum(width, limit)
        room = (limit - width + 1).clamp(min=1)
        start = (torch.rand(b, generator=generator).to(device) * room).long()
        out |= (pos[None] >= start[:, None]) & (pos[None] < (start + width)[:, None])
    return out


def spec_augment(
    fbank: Tensor,
    padding_mask: Tensor | None = None,
    *,
    freq_masks: int = 2,
    freq_width: int = 24,
    time_masks: int = 2,
    time_width: int = 20,
    value: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SpecAugment masking (Park et al., arXiv 1904.08779) without time warping.

    Each clip gets ``freq_masks`` bands of ``w ~ U{0..freq_width}`` mel bins and ``time_masks``
    bands of ``w ~ U{0..time_width}`` frames set to ``value`` (0 = the normalised mean); time
    bands lie inside the clip's real frames, never in its padding. Out of place.

    Shapes:
        fbank ``(B, T, F)``, padding_mask ``(B, T)`` or None -> ``(B, T, F)``.

    Raises:
        ValueError: malformed inputs or negative counts/widths.
    """
    mask = _check(fbank, padding_mask)
    if min(freq_masks, freq_width, time_masks, time_width) < 0:
        raise ValueError("mask counts and widths must be >= 0.")
    b, t, f = fbank.shape
    dev = fbank.device
    lengths = (~mask).sum(dim=1)
    freq = _bands(b, f, freq_masks, freq_width, torch.full((b,), f, device=dev), generator, dev)
    time = _bands(b, t, time_masks, time_width, lengths, generator, dev)
    hit = (freq[:, None, :] | time[:, :, None]) & ~mask[:, :, None]
    return fbank.masked_fill(hit, value)


def mixup(
    fbank: Tensor,
    targets: Tensor,
    padding_mask: Tensor | None = None,
    *,
    alpha: float = 0.8,
) -> tuple[Tensor, Tensor, Tensor]:
    """Mixup (Zhang et al., arXiv 1710.09412) of each clip with a permuted partner.

    .. math::

        \\tilde x_i = \\lambda x_i + (1 - \\lambda) x_{\\pi(i)}, \\quad
        \\tilde y_i = \\lambda y_i + (1 - \\lambda) y_{\\pi(i)}, \\quad \\lambda \\sim
        \\mathrm{Beta}(\\alpha, \\alpha)

    with one ``lambda`` per batch, drawn (with the permutation) from torch's global RNG. A frame
    is padding in the mix only when it is padding in both clips (padded frames are 0, so the
    shorter clip simply fades out). Train with BCE or soft-target CE.

    Shapes:
        fbank ``(B, T, F)``, targets ``(B, C)`` float (one-hot or multi-hot), padding_mask
        ``(B, T)`` or None -> mixed fbank, mixed targets, mixed padding mask.

    Raises:
        ValueError: ``alpha <= 0`` or targets that are not ``(B, C)`` floats.
    """
    mask = _check(fbank, padding_mask)
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}.")
    if targets.dim() != 2 or targets.shape[0] != fbank.shape[0] or not targets.is_floating_point():
        raise ValueError(
            f"targets must be float (B, C) one-/multi-hot with B = {fbank.shape[0]}, got "
            f"{targets.dtype} {tuple(targets.shape)}; use F.one_hot(y, C).float()."
        )
    beta = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha)))
    lam = float(beta.sample())
    perm = torch.randperm(fbank.shape[0]).to(fbank.device)
    x = fbank.masked_fill(mask[..., None], 0.0)
    mixed = lam * x + (1 - lam) * x[perm]
    return mixed, lam * targets + (1 - lam) * targets[perm], mask & mask[perm]

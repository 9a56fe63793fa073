"""Random token masking of padded, variable-length token sequences (audio clips, BEATs' 75 %).

Every sample keeps its own exact count, ``n_b - floor(r n_b)`` of its ``n_b`` real tokens;
padded tokens are never kept and never masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from selfsup.masking.token import random_token_mask

__all__ = ["PaddedTokenMask", "padded_token_mask"]


@dataclass(frozen=True)
class PaddedTokenMask:
    """Result of :func:`padded_token_mask`.

    Attributes:
        keep_idx: Positions of the visible patches, ascending (time order) per sample, padded
            on the right up to the batch's largest visible count.
        keep_padding: True where a ``keep_idx`` slot is padding (its position is a masked or
            padded patch and must be ignored).
        mask: True on masked, non-padded patches: where labels are predicted.

    Shapes:
        keep_idx, keep_padding: ``(B, K)``; mask: ``(B, L)`` bool.
    """

    keep_idx: Tensor
    keep_padding: Tensor
    mask: Tensor


def padded_token_mask(
    padding_mask: Tensor, mask_ratio: float, *, generator: torch.Generator | None = None
) -> PaddedTokenMask:
    """Mask exactly ``floor(mask_ratio * n_b)`` of the ``n_b`` real patches of each sample.

    The counting rule is core's (:func:`selfsup.masking.random_token_mask`, and it is that
    function which runs when no sample is padded). With padding, every real patch gets i.i.d.
    uniform noise and padded patches get noise 2 (always ranked last); the
    ``n_b - floor(r n_b)`` lowest-noise patches stay visible. A one-patch clip is never masked
    (``floor(0.75) = 0``), so it contributes no target but keeps a visible token.

    Args:
        padding_mask: True on padded patches; every sample needs at least one real patch.
        mask_ratio: Fraction of each sample's real patches to mask, in ``[0, 1)``.
        generator: Optional generator for reproducible masks.

    Shapes:
        padding_mask ``(B, L)`` -> keep_idx, keep_padding ``(B, K)``, mask ``(B, L)``.

    Raises:
        ValueError: a ratio outside ``[0, 1)``, a non-bool mask or a sample without real patches.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}.")
    if padding_mask.dtype != torch.bool or padding_mask.dim() != 2:
        raise ValueError(
            f"padding_mask must be a bool (B, L) tensor, got {padding_mask.dtype} "
            f"{tuple(padding_mask.shape)}."
        )
    b, length = padding_mask.shape
    device = padding_mask.device
    lengths = (~padding_mask).sum(dim=1)
    if bool((lengths == 0).any()):
        raise ValueError("a sample has no real patch; drop empty clips before masking.")
    if not bool(padding_mask.any()):
        m = random_token_mask(b, length, mask_ratio, generator=generator, device=device)
        return PaddedTokenMask(m.keep_idx, torch.zeros_like(m.keep_idx, dtype=torch.bool), m.mask)
    noise = torch.rand(b, length, generator=generator, device=device)
    noise = noise.masked_fill(padding_mask, 2.0)
    order = noise.argsort(dim=1)
    # floor(r * n) with the float guard of core's rule (0.75 * 4 must give 3, not 2.9999)
    num_mask = torch.floor(lengths.double() * mask_ratio + 1e-9).long()
    num_keep = lengths - num_mask
    k = int(num_keep.max())
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(length, device=device).expand(b, length)
    )
    mask = (rank >= num_keep[:, None]) & ~padding_mask
    keep_slots = torch.arange(k, device=device)[None, :]
    keep_padding = keep_slots >= num_keep[:, None]
    # visible positions first (in time order), padding slots after them
    key = torch.where(rank < num_keep[:, None], rank.new_zeros(()), rank.new_ones(())) * length
    key = key + torch.arange(length, device=device)[None, :]
    keep_idx = key.argsort(dim=1)[:, :k]
    return PaddedTokenMask(keep_idx, keep_padding, mask)

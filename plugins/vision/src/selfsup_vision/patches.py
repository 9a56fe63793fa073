"""Patch views of images: MAE's patchify, its pixel targets, and masks as index sets."""

from __future__ import annotations

import torch
from torch import Tensor

from selfsup.masking import TokenMask

__all__ = ["host_generator", "patchify", "pixel_targets", "token_mask_from_bool", "unpatchify"]


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images into non-overlapping patches in raster order, MAE's layout.

    ``out[b, i * (W/p) + j]`` is the patch at row ``i``, column ``j``, flattened as
    ``(p_row, p_col, channel)`` (``facebookresearch/mae`` ``models_mae.py::patchify``:
    ``einsum('nchpwq->nhwpqc')``).

    Shapes:
        images: ``(B, C, H, W)`` with ``p | H`` and ``p | W`` -> ``(B, (H/p)(W/p), p*p*C)``.

    Raises:
        ValueError: ``patch_size`` does not divide the image size.
    """
    b, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"patch_size {patch_size} does not divide the image size {h}x{w}; resize the images."
        )
    gh, gw = h // patch_size, w // patch_size
    x = images.reshape(b, c, gh, patch_size, gw, patch_size)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(b, gh * gw, patch_size * patch_size * c)


def unpatchify(patches: Tensor, patch_size: int, channels: int, grid: tuple[int, int]) -> Tensor:
    """Inverse of :func:`patchify`.

    Shapes:
        patches: ``(B, gh*gw, p*p*C)`` -> ``(B, C, gh*p, gw*p)``.
    """
    b = patches.shape[0]
    gh, gw = grid
    x = patches.reshape(b, gh, gw, patch_size, patch_size, channels)
    return torch.einsum("nhwpqc->nchpwq", x).reshape(b, channels, gh * patch_size, gw * patch_size)


def pixel_targets(images: Tensor, patch_size: int, normalize: bool = True) -> Tensor:
    """MAE reconstruction targets: patches, optionally normalised per patch (``norm_pix_loss``).

    .. math::

        t = \\frac{x - \\operatorname{mean}(x)}{\\sqrt{\\operatorname{var}(x) + 10^{-6}}}

    over the ``p*p*C`` values of each patch, with the *unbiased* variance (``torch.var``, as
    ``models_mae.py::forward_loss``).

    Shapes:
        images: ``(B, C, H, W)`` -> ``(B, L, p*p*C)``.
    """
    target = patchify(images, patch_size)
    if not normalize:
        return target
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return (target - mean) / (var + 1.0e-6) ** 0.5


def token_mask_from_bool(mask: Tensor) -> TokenMask:
    """A :class:`selfsup.masking.TokenMask` from a bool mask with the same count in every row.

    Used for block (GMML-style) masks from :func:`selfsup.masking.block_mask`, so the encoder
    can drop the masked tokens exactly as with :func:`selfsup.masking.random_token_mask`.

    Shapes:
        mask: ``(B, L)`` bool, ``True`` = masked -> indices ``(B, L - M)`` / ``(B, M)``.

    Raises:
        ValueError: rows mask different numbers of tokens.
    """
    counts = mask.sum(dim=1)
    n_mask = int(counts[0])
    if bool((counts != n_mask).any()):
        raise ValueError(f"every row must mask the same number of tokens, got {counts.tolist()}.")
    b, length = mask.shape
    # A stable sort of the flags lists the kept positions, then the masked ones, each ascending.
    order = mask.to(torch.uint8).argsort(dim=1, stable=True)
    keep_idx, mask_idx = order[:, : length - n_mask], order[:, length - n_mask :]
    arange = torch.arange(length, device=mask.device).expand(b, length)
    restore_idx = torch.empty_like(order).scatter_(1, order, arange)
    return TokenMask(keep_idx=keep_idx, mask_idx=mask_idx, restore_idx=restore_idx, mask=mask)


def host_generator() -> torch.Generator:
    """A CPU generator for the host-side mask samplers (:func:`selfsup.masking.block_mask`,
    :func:`selfsup.masking.multiblock_mask`), seeded from torch's global RNG so that masks are
    reproducible under ``torch.manual_seed``."""
    seed = int(torch.randint(0, 2**62, (1,)))
    return torch.Generator().manual_seed(seed)

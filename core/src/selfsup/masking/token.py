"""Uniform random token masking with an exact count per sample (MAE, arXiv 2111.06377).

Runs entirely on ``device``: one ``rand``, one ``argsort``, two ``sort`` and a few ``scatter``;
every shape depends only on the Python arguments, so nothing is read back from the device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor

from selfsup.masking._sampling import check_count, check_ratio, num_masked, resolve_device

__all__ = ["TokenMask", "gather_tokens", "random_token_mask", "restore_tokens"]


@dataclass(frozen=True)
class TokenMask:
    """Result of :func:`random_token_mask`.

    Attributes:
        keep_idx: Positions of the visible tokens, ascending per sample; the ``num_prefix_keep``
            prefix tokens come first.
        mask_idx: Positions of the masked tokens, ascending per sample.
        restore_idx: Inverse permutation of ``cat([keep_idx, mask_idx], 1)``:
            ``restore_tokens(cat([gather_tokens(x, keep_idx), gather_tokens(x, mask_idx)], 1),
            restore_idx) == x`` (MAE's ``ids_restore``).
        mask: ``True`` where a token is masked.

    Shapes:
        keep_idx: ``(B, L_keep)`` long; mask_idx: ``(B, L_mask)`` long;
        restore_idx: ``(B, L)`` long; mask: ``(B, L)`` bool; ``L_keep + L_mask = L``.
    """

    keep_idx: Tensor
    mask_idx: Tensor
    restore_idx: Tensor
    mask: Tensor

    @property
    def num_keep(self) -> int:
        """Visible tokens per sample (``L_keep``)."""
        return self.keep_idx.shape[1]

    @property
    def num_mask(self) -> int:
        """Masked tokens per sample (``L_mask``)."""
        return self.mask_idx.shape[1]


def random_token_mask(
    batch_size: int,
    num_tokens: int,
    mask_ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    num_prefix_keep: int = 0,
) -> TokenMask:
    """Mask exactly ``floor(mask_ratio * (L - P))`` of the maskable tokens of every sample.

    The first ``P = num_prefix_keep`` tokens (class/register tokens) are never masked; the other
    ``n = L - P`` tokens are ranked by i.i.d. uniform noise and the
    ``L_mask = floor(mask_ratio * n)`` highest-noise ones are masked, so every sample has the
    same, exact count (no Bernoulli draws).

    Counting rule: MAE (``models_mae.py::random_masking``) keeps ``int(n * (1 - r))`` tokens; this
    function masks ``floor(r * n)`` (GraphMAE's rule, see :func:`node_mask`). They agree whenever
    ``r * n`` is an integer (MAE's default ``L = 196, r = 0.75``: 147 masked, 49 kept); otherwise
    this function keeps one token more (``n = 10, r = 0.75``: MAE masks 8, here 7).

    Args:
        batch_size: ``B``, number of samples.
        num_tokens: ``L``, tokens per sample (prefix tokens included).
        mask_ratio: Fraction of the ``L - P`` maskable tokens to mask, in ``[0, 1]``.
        generator: Optional generator on ``device`` for reproducible masks.
        device: Device of the outputs (default: the generator's device, else the default device).
        num_prefix_keep: ``P``, leading tokens that are always kept (default 0).

    Returns:
        A :class:`TokenMask`.

    Shapes:
        keep_idx: ``(B, P + n - L_mask)``; mask_idx: ``(B, L_mask)``; restore_idx, mask: ``(B, L)``.

    Raises:
        ValueError: On a non-positive size, a ratio outside ``[0, 1]``, ``P`` outside ``[0, L]``,
            or a generator on another device.

    Example:
        >>> m = random_token_mask(2, 196, 0.75)
        >>> m.keep_idx.shape, m.mask_idx.shape, int(m.mask.sum())
        (torch.Size([2, 49]), torch.Size([2, 147]), 294)
    """
    check_count("batch_size", batch_size)
    check_count("num_tokens", num_tokens)
    check_ratio("mask_ratio", mask_ratio)
    check_count("num_prefix_keep", num_prefix_keep, minimum=0)
    if num_prefix_keep > num_tokens:
        raise ValueError(
            f"num_prefix_keep ({num_prefix_keep}) must not exceed num_tokens ({num_tokens})."
        )
    dev = resolve_device(device, generator)
    n_free = num_tokens - num_prefix_keep
    n_mask = num_masked(mask_ratio, n_free)

    noise = torch.rand(batch_size, n_free, generator=generator, device=dev)
    order = noise.argsort(dim=1) + num_prefix_keep  # (B, n_free), positions in [P, L)
    prefix = torch.arange(num_prefix_keep, device=dev).expand(batch_size, num_prefix_keep)
    keep_idx = torch.cat([prefix, order[:, : n_free - n_mask].sort(dim=1).values], dim=1)
    mask_idx = order[:, n_free - n_mask :].sort(dim=1).values

    shuffle = torch.cat([keep_idx, mask_idx], dim=1)  # (B, L), a permutation per row
    arange = torch.arange(num_tokens, device=dev).expand(batch_size, num_tokens)
    restore_idx = torch.empty_like(shuffle).scatter_(1, shuffle, arange)
    mask = torch.zeros(batch_size, num_tokens, dtype=torch.bool, device=dev)
    mask.scatter_(1, mask_idx, True)
    return TokenMask(keep_idx=keep_idx, mask_idx=mask_idx, restore_idx=restore_idx, mask=mask)


def _check_index(name: str, x: Tensor, idx: Tensor) -> None:
    if not isinstance(x, Tensor) or not isinstance(idx, Tensor):
        raise ValueError(f"{name}: x and idx must be tensors.")
    if x.dim() < 2:
        raise ValueError(f"{name}: x must have shape (B, L, ...), got {tuple(x.shape)}.")
    if idx.dim() != 2 or idx.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name}: idx must have shape (B, K) with B = x.shape[0] = {x.shape[0]}, "
            f"got {tuple(idx.shape)}."
        )
    if idx.dtype != torch.long:
        raise ValueError(f"{name}: idx must be torch.long, got {idx.dtype}.")
    if idx.device != x.device:
        raise ValueError(f"{name}: idx is on {idx.device} but x is on {x.device}; move one.")


def gather_tokens(x: Tensor, idx: Tensor, *, backend: str | None = None) -> Tensor:
    """Select tokens per sample: ``out[b, k] = x[b, idx[b, k]]``.

    The index is broadcast with ``expand`` (a stride-0 view), not ``repeat``: MAE's
    ``.repeat(1, 1, D)`` materialises a ``B x K x D`` int64 tensor (103 MB for B = 256, K = 49,
    D = 1024). Gradients flow back to ``x``.

    Args:
        x: Token tensor.
        idx: Token positions per sample, e.g. ``TokenMask.keep_idx``.
        backend: ``None`` (default: ``SELFSUP_KERNELS`` if set, else PyTorch), ``"torch"`` or
            ``"triton"``; anything but PyTorch goes through
            :func:`selfsup.kernels.masking.gather_visible` (3-D floating ``x`` only; its Triton
            backward assumes the positions of a row are distinct).

    Returns:
        The gathered tokens.

    Shapes:
        x: ``(B, L, *F)``; idx: ``(B, K)`` long; output: ``(B, K, *F)``.

    Raises:
        ValueError: On mismatched batch sizes, a non-long index or tensors on different devices.
    """
    _check_index("gather_tokens", x, idx)
    if backend is not None or os.environ.get("SELFSUP_KERNELS"):
        if x.dim() == 3 and x.is_floating_point():
            from selfsup.kernels.masking import gather_visible

            return gather_visible(x, idx, backend=backend)
        if backend not in (None, "torch"):
            raise ValueError(
                f"gather_tokens: backend={backend!r} needs a floating (B, L, D) tensor, got "
                f"{x.dtype} {tuple(x.shape)}; use backend='torch'."
            )
    view = idx.reshape(*idx.shape, *([1] * (x.dim() - 2)))
    return torch.gather(x, 1, view.expand(*idx.shape, *x.shape[2:]))


def restore_tokens(x: Tensor, restore_idx: Tensor) -> Tensor:
    """Undo the visible-then-masked ordering (MAE decoder ``ids_restore``).

    ``x`` holds, per sample, the ``L_keep`` visible tokens in ``keep_idx`` order followed by the
    ``L_mask`` mask tokens in ``mask_idx`` order; the result has every token back at its original
    position.

    Args:
        x: Visible tokens concatenated with mask tokens along dim 1.
        restore_idx: ``TokenMask.restore_idx``.

    Returns:
        Tokens in the original order.

    Shapes:
        x: ``(B, L, *F)``; restore_idx: ``(B, L)`` long; output: ``(B, L, *F)``.

    Raises:
        ValueError: If ``x.shape[1] != restore_idx.shape[1]`` or the index is malformed.
    """
    _check_index("restore_tokens", x, restore_idx)
    if x.shape[1] != restore_idx.shape[1]:
        raise ValueError(
            f"restore_tokens: x has {x.shape[1]} tokens but restore_idx covers "
            f"{restore_idx.shape[1]}; concatenate the visible tokens and one mask token per "
            "masked position before restoring."
        )
    return gather_tokens(x, restore_idx)

"""The Mixed Barlow Twins regulariser: cross-correlations of mixed samples must be linear."""

from __future__ import annotations

import torch
from torch import Tensor

from selfsup.checks import check_matrix, check_positive, check_same_shape

__all__ = ["mixed_barlow_regularizer", "standardize"]


def standardize(z: Tensor) -> Tensor:
    """Per-feature ``(z - mean) / std`` over the batch, unbiased std (the reference's ``.std``).

    Shapes:
        z: ``(N, D)`` -> ``(N, D)``.
    """
    return (z - z.mean(dim=0)) / z.std(dim=0)


def mixed_barlow_regularizer(
    z1: Tensor,
    z2: Tensor,
    z_mix: Tensor,
    perm: Tensor,
    alpha: float,
    lambda_offdiag: float = 0.0051,
    scale: float = 1.0,
) -> Tensor:
    """Mixed Barlow Twins' mixup regulariser (Bandara et al., arXiv 2312.02151).

    With ``x_mix = alpha x_1 + (1 - alpha) x_2[perm]`` and its projection ``z_mix``, the
    cross-correlation with either view should mix linearly like the inputs:

    .. math::

        C(a, b) = \\frac{1}{N} \\hat a^\\top \\hat b, \\qquad
        L = s \\lambda \\sum_{k \\in \\{1, 2\\}}
            \\left\\lVert C(z_{mix}, z_k)
            - \\alpha C(z_1, z_k) - (1 - \\alpha) C(z_2[\\pi], z_k) \\right\\rVert_F^2

    exactly as ``wgcban/mix-bt`` ``main.py`` (the CIFAR-10/100, STL-10 and TinyImageNet code:
    ``mixup_loss_scale * lmbda * (...)``, no factor 1/2), so the README's per-dataset
    ``lambda_reg`` is ``s`` here (CIFAR 4.0). Its ImageNet script instead weights
    ``lambda_mixup * 0.5 * lmbda * (...)`` (with a 10-epoch linear warm-up of ``lambda_mixup``):
    use ``s = lambda_mixup / 2`` for those numbers. ``hat`` is :func:`standardize` (unbiased std,
    as the reference; Barlow Twins' own loss uses the biased variance). As in the reference,
    gradients flow through the "ground truth" mixtures too (nothing is detached). Local batch
    statistics only (the small-data reference is single-GPU).

    Args:
        z1: projections of view 1.
        z2: projections of view 2.
        z_mix: projections of the mixed images.
        perm: the permutation applied to view 2 before mixing.
        alpha: mixing coefficient in ``[0, 1]`` (the reference draws ``Beta(1, 1)``).
        lambda_offdiag: Barlow Twins' ``lambda`` (the reference reuses it here).
        scale: the reference's ``mixup_loss_scale`` ``s > 0`` (default 1).

    Shapes:
        z1, z2, z_mix: ``(N, D)``; perm: ``(N,)`` long -> scalar.

    Raises:
        ValueError: shape mismatch, fewer than 2 rows, ``perm`` not of length N, ``alpha``
            outside ``[0, 1]`` or non-positive ``scale`` / negative ``lambda_offdiag``.
    """
    for name, z in (("z1", z1), ("z2", z2), ("z_mix", z_mix)):
        check_matrix(name, z, min_rows=2)
    check_same_shape(("z1", "z2", "z_mix"), z1, z2, z_mix)
    if not isinstance(perm, Tensor) or perm.shape != (z1.shape[0],) or perm.is_floating_point():
        got = tuple(perm.shape) if isinstance(perm, Tensor) else type(perm).__name__
        raise ValueError(f"perm must be an integer tensor of shape ({z1.shape[0]},), got {got}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}.")
    check_positive("scale", scale)
    if lambda_offdiag < 0:
        raise ValueError(f"lambda_offdiag must be >= 0, got {lambda_offdiag}.")
    acc = torch.promote_types(z1.dtype, torch.float32)
    n1, n2, nm = (standardize(z.to(acc)) for z in (z1, z2, z_mix))
    n2p = n2[perm]
    n = z1.shape[0]
    total = z1.new_zeros((), dtype=acc)
    for nk in (n1, n2):
        target = (alpha * (n1.T @ nk) + (1.0 - alpha) * (n2p.T @ nk)) / n
        total = total + ((nm.T @ nk) / n - target).pow(2).sum()
    return scale * lambda_offdiag * total

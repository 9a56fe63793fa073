"""RankMe: the effective rank of a batch of embeddings, a label-free quality proxy."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from selfsup.checks import check_matrix

__all__ = ["rankme"]


def rankme(z: Tensor, eps: float = 1e-7) -> Tensor:
    """Effective rank of an embedding matrix (RankMe).

    Garrido, Balestriero, Najman and LeCun, "RankMe: Assessing the downstream
    performance of pretrained self-supervised representations by their rank",
    ICML 2023, arXiv 2210.02885. With ``sigma_1 >= ... >= sigma_K`` the singular
    values of ``Z`` (``K = min(N, D)``):

    .. math::

        p_k = \\frac{\\sigma_k}{\\lVert \\sigma \\rVert_1} + \\varepsilon, \\qquad
        \\mathrm{RankMe}(Z) = \\exp\\Big(-\\sum_{k=1}^{K} p_k \\log p_k\\Big)

    The value lies in ``[~1, ~K]``: about 1 for a collapsed (rank-1) representation
    and about ``K`` when all singular values are equal. Higher correlates with
    better linear-probe accuracy. Use many more samples than dimensions (the paper
    uses 25,600): a finite sample of even a perfectly white distribution is not
    exactly isotropic, which RankMe registers as a slightly lower rank.

    The singular values are computed in float64 (``torch.linalg.svdvals``) whatever
    the input precision. The result is differentiable with respect to ``z``.

    Args:
        z: Embeddings, one row per sample. Not centred or normalised here, as in
            the paper.
        eps: Added to every ``p_k`` so that ``log`` stays finite for zero singular
            values (default ``1e-7``, the value used for float32 embeddings by the
            reference implementations; ``0`` is allowed).

    Returns:
        A 0-dim float64 tensor on ``z``'s device.

    Shapes:
        - z: ``(N, D)`` with ``N >= 2``.
        - output: ``()``.

    Raises:
        TypeError: if ``z`` is not a tensor.
        ValueError: if ``z`` is not a finite floating 2-D tensor with at least two
            rows, or ``eps`` is negative or not finite.

    Example::

        z = torch.randn(4096, 64)
        rankme(z)  # close to 64 for white Gaussian embeddings
    """
    check_matrix("z", z, min_rows=2)
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}.")
    sigma = torch.linalg.svdvals(z.to(torch.float64))
    total = sigma.sum()
    # An all-zero matrix has sigma = 0: divide by a tiny positive number instead
    # so that p = eps and RankMe -> exp(-K eps log eps) ~ 1 (fully collapsed).
    p = sigma / total.clamp_min(torch.finfo(torch.float64).tiny) + eps
    entropy = -(p * torch.log(p)).sum()
    return torch.exp(entropy)

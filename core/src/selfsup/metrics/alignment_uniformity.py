"""Alignment and uniformity of embeddings on the hypersphere (Wang & Isola, 2020)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.checks import check_matrix, check_positive, check_same_shape

__all__ = ["alignment", "uniformity"]


def alignment(z1: Tensor, z2: Tensor, alpha: float = 2.0, *, normalize: bool = True) -> Tensor:
    """Alignment of positive pairs: mean distance between the two views.

    Wang and Isola, "Understanding Contrastive Representation Learning through
    Alignment and Uniformity on the Hypersphere", ICML 2020, arXiv 2005.10242:

    .. math::

        \\mathcal{L}_{align}(f; \\alpha) =
        \\mathbb{E}_{(x, y) \\sim p_{pos}} \\lVert f(x) - f(y) \\rVert_2^{\\alpha}

    estimated by the mean over the rows ``i`` of ``||u_i - v_i||^alpha`` with
    ``u = z1 / ||z1||`` and ``v = z2 / ||z2||``. Lower is better (0 when both views
    map to the same point); on the unit sphere the value lies in ``[0, 2^alpha]``.

    Args:
        z1: Embeddings of the first view.
        z2: Embeddings of the second view; row ``i`` is the positive of ``z1[i]``.
        alpha: Exponent ``alpha > 0`` (default 2, the paper's choice).
        normalize: L2-normalise each row first (default ``True``; the paper
            defines the metric for features on the unit hypersphere). Pass
            ``False`` for embeddings that are already normalised.

    Returns:
        A 0-dim tensor in the dtype of the inputs, differentiable.

    Shapes:
        - z1, z2: ``(N, D)``.
        - output: ``()``.

    Raises:
        ValueError: for non-matrix, non-finite or mismatched inputs, or ``alpha <= 0``.
    """
    check_matrix("z1", z1)
    check_matrix("z2", z2)
    check_same_shape(("z1", "z2"), z1, z2)
    check_positive("alpha", alpha)
    if normalize:
        z1 = F.normalize(z1, dim=1)
        z2 = F.normalize(z2, dim=1)
    sq = (z1 - z2).pow(2).sum(dim=1)
    if alpha == 2:
        dist = sq
    else:
        # ||.||^alpha = (||.||^2)^(alpha/2); the double `where` keeps the gradient
        # finite (zero) for identical pairs when alpha < 2.
        positive = sq > 0
        safe = torch.where(positive, sq, torch.ones_like(sq))
        dist = torch.where(positive, safe.pow(alpha / 2), torch.zeros_like(sq))
    return dist.mean()


def uniformity(z: Tensor, t: float = 2.0, *, normalize: bool = True) -> Tensor:
    """Uniformity: log of the mean Gaussian potential over all distinct pairs.

    Wang and Isola, arXiv 2005.10242:

    .. math::

        \\mathcal{L}_{uniform}(f; t) =
        \\log \\mathbb{E}_{x, y \\sim p_{data}} e^{-t \\lVert f(x) - f(y) \\rVert_2^2}

    estimated over the ``N (N - 1) / 2`` distinct pairs ``i < j`` (``torch.pdist``),
    evaluated as ``logsumexp(-t d^2) - log(#pairs)`` for numerical stability.
    Lower (more negative) is better: embeddings spread uniformly over the sphere.
    On the unit sphere the value lies in ``[-4t, 0]``.

    Args:
        z: Embeddings, one row per sample.
        t: Temperature of the Gaussian potential, ``t > 0`` (default 2, the paper's
            choice).
        normalize: L2-normalise each row first (default ``True``).

    Returns:
        A 0-dim tensor in the dtype of ``z``, differentiable.

    Shapes:
        - z: ``(N, D)`` with ``N >= 2``.
        - output: ``()``.

    Raises:
        ValueError: for non-matrix or non-finite input, fewer than two rows, or ``t <= 0``.
    """
    check_matrix("z", z, min_rows=2)
    check_positive("t", t)
    if normalize:
        z = F.normalize(z, dim=1)
    sq = torch.pdist(z, p=2).pow(2)
    return torch.logsumexp(-t * sq, dim=0) - math.log(sq.numel())

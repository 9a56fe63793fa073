"""Cosine regression losses: BYOL/SimSiam negative cosine and GraphMAE's scaled cosine error."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.checks import check_matrix, check_same_shape
from selfsup.precision import autocast_off, promote

__all__ = [
    "NegativeCosineLoss",
    "ScaledCosineErrorLoss",
    "negative_cosine",
    "scaled_cosine_error",
]


def _check_pair(names: tuple[str, str], a: Tensor, b: Tensor) -> None:
    check_matrix(names[0], a)
    check_matrix(names[1], b)
    check_same_shape(names, a, b)


def _check_alpha(alpha: float) -> None:
    if not alpha >= 1:
        raise ValueError(
            f"alpha must be >= 1, got {alpha}; GraphMAE's scaling exponent gamma >= 1 "
            "(below 1 the gradient is infinite at a perfect reconstruction)."
        )


@autocast_off
def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """BYOL / SimSiam regression loss ``2 - 2 cos(p, sg(z))``, averaged over rows.

    .. math::

        L = \\frac{1}{N} \\sum_i \\left(2 - 2 \\frac{p_i \\cdot z_i}{\\|p_i\\| \\|z_i\\|}\\right)
          = \\frac{1}{N} \\sum_i \\left\\| \\bar p_i - \\bar z_i \\right\\|^2

    (BYOL, Grill et al., arXiv 2006.07733, Eq. 2; SimSiam, Chen & He, arXiv 2011.10566, uses
    ``-cos``, which differs by an affine map and has half the gradient.)

    The stop-gradient is applied **inside**: ``z`` is detached, so no gradient ever reaches
    the target branch (solo-learn's convention; lightly's ``NegativeCosineSimilarity`` leaves
    it to the caller, an easy way to collapse). Symmetrise over the two views in the caller:
    ``negative_cosine(p1, z2) + negative_cosine(p2, z1)``.

    Args:
        p: online predictions.
        z: targets (target-network projections, or the other view's projection in SimSiam).

    Shapes:
        p, z: ``(N, D)`` -> scalar in ``[0, 4]``.

    Raises:
        ValueError: wrong ndim, shape mismatch, NaN/inf or an empty batch.

    Distributed:
        Per-sample, nothing is gathered; the loss is the mean over local rows, which DDP's
        gradient averaging turns into the global mean (equal batch sizes).
    """
    _check_pair(("p", "z"), p, z)
    p, z = promote(p, z)
    cos = (F.normalize(p, dim=1) * F.normalize(z.detach(), dim=1)).sum(dim=1)
    return (2.0 - 2.0 * cos).mean()


@autocast_off
def scaled_cosine_error(x: Tensor, y: Tensor, alpha: float = 2.0) -> Tensor:
    """Scaled cosine error of GraphMAE (Hou et al., KDD 2022, arXiv 2205.10803, Eq. 2).

    .. math::

        L = \\frac{1}{N} \\sum_i
            \\left(1 - \\frac{x_i \\cdot y_i}{\\|x_i\\| \\|y_i\\|}\\right)^{\\alpha}

    ``x`` is the reconstruction of the masked nodes' features ``y``. The base is clamped at 0
    so rounding (cosine slightly above 1) cannot produce NaN for non-integer ``alpha``. No
    stop-gradient: ``y`` is normally an input (no gradient anyway); detach it yourself if it
    comes from a network you do not want to train through this loss.

    Args:
        x: reconstructions.
        y: targets.
        alpha: scaling exponent :math:`\\gamma \\ge 1` (default 2); larger values down-weight
            easy samples (close to cosine 1).

    Shapes:
        x, y: ``(N, D)`` -> scalar.

    Raises:
        ValueError: wrong ndim, shape mismatch, NaN/inf, an empty batch or ``alpha < 1``.

    Distributed:
        Per-sample, nothing is gathered; mean over local rows.
    """
    _check_alpha(alpha)
    _check_pair(("x", "y"), x, y)
    x, y = promote(x, y)
    cos = (F.normalize(x, dim=1) * F.normalize(y, dim=1)).sum(dim=1)
    return (1.0 - cos).clamp_min(0.0).pow(alpha).mean()


class NegativeCosineLoss(nn.Module):
    """Module form of :func:`negative_cosine` (``2 - 2 cos(p, sg(z))``, ``z`` detached inside).

    Shapes:
        forward(p ``(N, D)``, z ``(N, D)``) -> scalar.

    Distributed:
        Nothing gathered (per-sample loss).
    """

    def forward(self, p: Tensor, z: Tensor) -> Tensor:
        return negative_cosine(p, z)


class ScaledCosineErrorLoss(nn.Module):
    """Module form of :func:`scaled_cosine_error`.

    Args:
        alpha: scaling exponent >= 1 (default 2).

    Shapes:
        forward(x ``(N, D)``, y ``(N, D)``) -> scalar.

    Distributed:
        Nothing gathered (per-sample loss).
    """

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__()
        _check_alpha(alpha)
        self.alpha = alpha

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return scaled_cosine_error(x, y, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

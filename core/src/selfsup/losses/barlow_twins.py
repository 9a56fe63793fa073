"""Barlow Twins: push the cross-correlation of two standardised views to the identity."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup import distributed as sdist
from selfsup.checks import check_positive, check_two_views
from selfsup.precision import autocast_off, promote

__all__ = ["BarlowTwinsLoss", "barlow_twins", "cross_correlation"]


def _off_diagonal(x: Tensor) -> Tensor:
    """Flattened off-diagonal entries of a square matrix (``facebookresearch/barlowtwins``)."""
    d = x.shape[0]
    return x.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


def _check_hparams(lambda_offdiag: float, eps: float) -> None:
    if not lambda_offdiag >= 0:
        raise ValueError(f"lambda_offdiag must be >= 0, got {lambda_offdiag}.")
    check_positive("eps", eps)


def _check_inputs(z1: Tensor, z2: Tensor, gathering: bool) -> None:
    check_two_views(
        z1,
        z2,
        gathering=gathering,
        need="batch statistics need at least 2 (the per-feature variance of one sample is 0); "
        "raise the batch size.",
    )


@autocast_off
def cross_correlation(
    z1: Tensor, z2: Tensor, *, gather: bool | None = None, eps: float = 1e-5
) -> Tensor:
    """Cross-correlation ``C = BN(z1)^T BN(z2) / N_global`` of two views.

    ``BN`` standardises each feature of each view with the batch mean and the *biased*
    batch variance, ``(z - mean) / sqrt(var + eps)`` (``BatchNorm1d(affine=False)`` in
    training mode, as the reference). Computed in float32 or wider.

    Args:
        z1: first view.
        z2: second view.
        gather: use global-batch statistics (see :func:`barlow_twins`); None: when distributed.
        eps: added to the variance (default 1e-5, BatchNorm's).

    Shapes:
        z1, z2: ``(N, D)`` -> ``(D, D)``.
    """
    gathering = sdist.default_gather(gather)
    _check_inputs(z1, z2, gathering)
    check_positive("eps", eps)
    return _cross_correlation(z1, z2, gathering, eps)


def _cross_correlation(z1: Tensor, z2: Tensor, gathering: bool, eps: float) -> Tensor:
    z1, z2 = promote(z1, z2)

    def reduce(x: Tensor) -> Tensor:
        return sdist.all_reduce_sum(x) if gathering else x

    count = z1.shape[0] * (sdist.world_size() if gathering else 1)
    means = reduce(torch.stack([z1.sum(dim=0), z2.sum(dim=0)])) / count
    c1, c2 = z1 - means[0], z2 - means[1]
    var = reduce(torch.stack([c1.pow(2).sum(dim=0), c2.pow(2).sum(dim=0)])) / count
    z1n = c1 * torch.rsqrt(var[0] + eps)
    z2n = c2 * torch.rsqrt(var[1] + eps)
    return reduce(z1n.T @ z2n) / count


@autocast_off
def barlow_twins(
    z1: Tensor,
    z2: Tensor,
    lambda_offdiag: float = 0.0051,
    *,
    gather: bool | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Barlow Twins redundancy-reduction loss (Zbontar et al., arXiv 2103.03230).

    .. math::

        C = \\frac{1}{N} \\operatorname{BN}(z^1)^\\top \\operatorname{BN}(z^2), \\qquad
        L = \\sum_i (1 - C_{ii})^2 + \\lambda \\sum_i \\sum_{j \\ne i} C_{ij}^2

    ``BN`` standardises each feature of each view over the **global** batch (biased variance,
    ``eps`` inside the square root), as the reference code does with ``SyncBatchNorm``; ``N``
    is the global batch size. See :func:`cross_correlation`.

    Args:
        z1: first view embeddings (projector output).
        z2: second view embeddings, row ``i`` the same sample as ``z1[i]``.
        lambda_offdiag: :math:`\\lambda \\ge 0`, weight of the redundancy term (default
            0.0051, the paper's value for D = 8192).
        gather: global-batch statistics (see ``Distributed``); None: when distributed.
        eps: BatchNorm epsilon added to the variance (default 1e-5).

    Shapes:
        z1, z2: ``(N, D)`` -> scalar. ``C`` is ``D x D`` (268 MB in float32 at D = 8192).

    Raises:
        ValueError: wrong ndim, shape mismatch, NaN/inf, fewer than 2 samples (global),
            ``lambda_offdiag < 0`` or ``eps <= 0``.

    Distributed:
        Nothing is gathered; the per-feature sums, centred sums of squares and the local
        ``BN(z1)^T BN(z2)`` are summed over ranks with the autograd-aware
        :func:`selfsup.distributed.all_reduce_sum` (three all-reduces: ``2·D``, ``2·D`` and
        ``D·D`` values). Every rank therefore computes the exact loss of the concatenated
        global batch, and each rank's embeddings receive ``W`` times the single-process
        gradient, which DDP's averaging over ``W`` ranks turns into exactly the
        single-process parameter gradient. (lightly and solo-learn standardise with local
        statistics; a raw ``all_reduce`` scales gradients by ``1/W``.) Every rank must pass the
        same ``N``.
    """
    _check_hparams(lambda_offdiag, eps)
    gathering = sdist.default_gather(gather)
    _check_inputs(z1, z2, gathering)
    c = _cross_correlation(z1, z2, gathering, eps)
    on_diag = (1.0 - torch.diagonal(c)).pow(2).sum()
    off_diag = _off_diagonal(c).pow(2).sum()
    return on_diag + lambda_offdiag * off_diag


class BarlowTwinsLoss(nn.Module):
    """Module form of :func:`barlow_twins`.

    Args:
        lambda_offdiag: weight of the off-diagonal term (default 0.0051).
        gather: global-batch statistics (None: when distributed).
        eps: BatchNorm epsilon (default 1e-5).

    Shapes:
        forward(z1 ``(N, D)``, z2 ``(N, D)``) -> scalar.

    Distributed:
        As :func:`barlow_twins`: statistics and ``C`` all-reduced with gradient.
    """

    def __init__(
        self, lambda_offdiag: float = 0.0051, *, gather: bool | None = None, eps: float = 1e-5
    ) -> None:
        super().__init__()
        _check_hparams(lambda_offdiag, eps)
        self.lambda_offdiag = lambda_offdiag
        self.gather = gather
        self.eps = eps

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return barlow_twins(z1, z2, self.lambda_offdiag, gather=self.gather, eps=self.eps)

    def extra_repr(self) -> str:
        return f"lambda_offdiag={self.lambda_offdiag}, gather={self.gather}, eps={self.eps}"

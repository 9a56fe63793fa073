"""VICReg: variance-invariance-covariance regularisation of two views."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup import distributed as sdist
from selfsup.checks import (
    check_matrix,
    check_positive,
    check_same_shape,
    finite_checks_enabled,
)
from selfsup.precision import autocast_off, promote

__all__ = ["VICRegLoss", "covariance_term", "invariance_term", "variance_term", "vicreg"]


def _off_diagonal(x: Tensor) -> Tensor:
    d = x.shape[0]
    return x.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


def _check_batch(name: str, z: Tensor, gathering: bool) -> None:
    check_matrix(name, z)
    if z.shape[0] * (sdist.world_size() if gathering else 1) < 2:
        raise ValueError(
            f"{name} holds {z.shape[0]} sample(s) but VICReg's batch statistics (unbiased "
            "variance, covariance) need at least 2; raise the batch size."
        )


def _variance(z: Tensor, eps: float) -> Tensor:
    (z,) = promote(z)
    std = torch.sqrt(z.var(dim=0) + eps)  # unbiased, as the reference
    return F.relu(1.0 - std).mean()


def _covariance(z: Tensor) -> Tensor:
    (z,) = promote(z)
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (z.shape[0] - 1)
    return _off_diagonal(cov).pow(2).sum() / z.shape[1]


@autocast_off
def invariance_term(z1: Tensor, z2: Tensor, *, gather: bool | None = None) -> Tensor:
    """Invariance ``s(Z, Z') = (1 / (N D)) sum_{n,d} (z1_nd - z2_nd)^2`` (mean squared error).

    Args:
        z1: first view.
        z2: second view.
        gather: mean over the global batch (see :func:`vicreg`); None: when distributed.

    Shapes:
        z1, z2: ``(N, D)`` -> scalar.

    Distributed:
        With gathering on, the local sum of squared errors is summed over ranks with the
        autograd-aware :func:`selfsup.distributed.all_reduce_sum` (one scalar) and divided by
        ``W·N·D``: the value is the global-batch MSE on every rank, and each rank's gradient is
        exactly the reference's local ``F.mse_loss`` gradient (see :func:`vicreg`).
    """
    check_matrix("z1", z1)
    check_matrix("z2", z2)
    check_same_shape(("z1", "z2"), z1, z2)
    z1, z2 = promote(z1, z2)
    if not sdist.default_gather(gather):
        return F.mse_loss(z1, z2)
    total = sdist.all_reduce_sum((z1 - z2).pow(2).sum())
    return total / (z1.numel() * sdist.world_size())


@autocast_off
def variance_term(z: Tensor, *, eps: float = 1e-4, gather: bool | None = None) -> Tensor:
    """Variance hinge ``v(Z) = (1/D) sum_d relu(1 - sqrt(Var(z_d) + eps))`` of one view.

    ``Var`` is the unbiased per-feature variance over the batch. :func:`vicreg` uses the
    average over both views, ``(v(Z) + v(Z')) / 2``.

    Args:
        z: one view.
        eps: added inside the square root (default 1e-4).
        gather: statistics over the global batch (gathered with gradient); None: when
            distributed.

    Shapes:
        z: ``(N, D)`` -> scalar.

    Distributed:
        ``z`` is gathered with :func:`selfsup.distributed.gather` (gradients return to their
        rank).
    """
    gathering = sdist.default_gather(gather)
    _check_batch("z", z, gathering)
    check_positive("eps", eps)
    return _variance(sdist.gather(z) if gathering else z, eps)


@autocast_off
def covariance_term(z: Tensor, *, gather: bool | None = None) -> Tensor:
    """Covariance ``c(Z) = (1/D) sum_{i != j} C(Z)_ij^2``, ``C = (Z - mean)^T (Z - mean)/(N-1)``.

    :func:`vicreg` uses the sum over both views, ``c(Z) + c(Z')``.

    Args:
        z: one view.
        gather: statistics over the global batch (gathered with gradient); None: when
            distributed.

    Shapes:
        z: ``(N, D)`` -> scalar.

    Distributed:
        ``z`` is gathered with :func:`selfsup.distributed.gather` (gradients return to their
        rank).
    """
    gathering = sdist.default_gather(gather)
    _check_batch("z", z, gathering)
    return _covariance(sdist.gather(z) if gathering else z)


@autocast_off
def vicreg(
    z1: Tensor,
    z2: Tensor,
    sim_coeff: float = 25.0,
    std_coeff: float = 25.0,
    cov_coeff: float = 1.0,
    *,
    gather: bool | None = None,
    eps: float = 1e-4,
) -> Tensor:
    """VICReg loss (Bardes et al., ICLR 2022, arXiv 2105.04906; ``facebookresearch/vicreg``).

    .. math::

        L = \\lambda\\, s(Z, Z') + \\mu \\frac{v(Z) + v(Z')}{2} + \\nu \\left(c(Z) + c(Z')\\right)

    with :func:`invariance_term` ``s`` (MSE over ``N x D``), :func:`variance_term` ``v``
    (hinge on the unbiased std, ``eps`` inside the root) and :func:`covariance_term` ``c``
    (squared off-diagonal covariance over ``D``) — exactly ``main_vicreg.py``'s conventions
    (variance halved over the views, covariance summed; solo-learn's variance is 2x this).

    Args:
        z1: first view embeddings (expander output).
        z2: second view embeddings, row ``i`` the same sample as ``z1[i]``.
        sim_coeff: :math:`\\lambda`, invariance weight (default 25).
        std_coeff: :math:`\\mu`, variance weight (default 25).
        cov_coeff: :math:`\\nu`, covariance weight (default 1).
        gather: global-batch statistics (see ``Distributed``); None: when distributed.
        eps: variance epsilon (default 1e-4).

    Shapes:
        z1, z2: ``(N, D)`` -> scalar.

    Raises:
        ValueError: wrong ndim, shape mismatch, NaN/inf, fewer than 2 samples (global),
            ``eps <= 0``.

    Distributed:
        Both views are gathered **with gradient** (:func:`selfsup.distributed.gather`, the
        reference's ``FullGatherLayer``) for the variance and covariance terms. Decision for
        the invariance term: the reference takes ``F.mse_loss`` of the *local* tensors; here it
        is the **global** mean (local sum of squares all-reduced with gradient, one scalar).
        Both give every rank the same embedding gradient — the global MSE's backward sums
        ``W`` identical upstream gradients, ``W · 2(z1 - z2)/(W N D) = 2(z1 - z2)/(N D)`` —
        so with DDP's gradient averaging the parameter gradients equal one process on the
        concatenated batch either way; the global form additionally makes the *value*
        identical on every rank and equal to the single-process value (logging, and tests
        comparing values and gradients). Every rank must pass the same ``N``.
    """
    check_positive("eps", eps)
    gathering = sdist.default_gather(gather)
    _check_batch("z1", z1, gathering)
    _check_batch("z2", z2, gathering)
    check_same_shape(("z1", "z2"), z1, z2)
    inv = invariance_term(z1, z2, gather=gathering)
    x = sdist.gather(z1) if gathering else z1
    y = sdist.gather(z2) if gathering else z2
    var = 0.5 * (_variance(x, eps) + _variance(y, eps))
    cov = _covariance(x) + _covariance(y)
    loss = sim_coeff * inv + std_coeff * var + cov_coeff * cov
    if finite_checks_enabled() and not bool(torch.isfinite(loss)):
        # finite inputs (checked above) whose covariance term (~|z|^4) exceeds float32
        scale = float(torch.stack([z1.detach().abs().max(), z2.detach().abs().max()]).max())
        raise ValueError(
            f"vicreg overflowed float32 although its inputs are finite (|z| up to {scale:.3g}): "
            "the covariance term grows as |z|^4. Keep the embeddings at a moderate scale "
            "(e.g. a BatchNorm at the expander's end) or lower the learning rate."
        )
    return loss


class VICRegLoss(nn.Module):
    """Module form of :func:`vicreg`.

    Args:
        sim_coeff: invariance weight (default 25).
        std_coeff: variance weight (default 25).
        cov_coeff: covariance weight (default 1).
        gather: global-batch statistics (None: when distributed).
        eps: variance epsilon (default 1e-4).

    Shapes:
        forward(z1 ``(N, D)``, z2 ``(N, D)``) -> scalar.

    Distributed:
        As :func:`vicreg`: views gathered with gradient, invariance as a global mean.
    """

    def __init__(
        self,
        sim_coeff: float = 25.0,
        std_coeff: float = 25.0,
        cov_coeff: float = 1.0,
        *,
        gather: bool | None = None,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        check_positive("eps", eps)
        self.sim_coeff = sim_coeff
        self.std_coeff = std_coeff
        self.cov_coeff = cov_coeff
        self.gather = gather
        self.eps = eps

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return vicreg(
            z1,
            z2,
            self.sim_coeff,
            self.std_coeff,
            self.cov_coeff,
            gather=self.gather,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"sim_coeff={self.sim_coeff}, std_coeff={self.std_coeff}, "
            f"cov_coeff={self.cov_coeff}, gather={self.gather}, eps={self.eps}"
        )

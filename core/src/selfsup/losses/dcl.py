"""Decoupled contrastive learning (DCL) and its von Mises-Fisher weighted form (DCLW)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup import distributed as sdist
from selfsup.checks import check_positive
from selfsup.losses._contrastive import check_temperature, check_views, two_view_lse
from selfsup.precision import autocast_off

__all__ = ["DCLLoss", "dcl", "vmf_weights"]

_WEIGHT_FNS = (None, "vmf")


def vmf_weights(
    z1: Tensor, z2: Tensor, sigma: float = 0.5, *, gather: bool | None = None
) -> Tensor:
    """DCLW positive weights ``w_i = 2 - N * softmax_i(<z1_i, z2_i> / sigma)`` (paper form).

    Computed on **detached** inputs (no gradient flows through the weight). The inputs should
    already be L2-normalised (as :func:`dcl` passes them). Weights average to 1 over the
    (global) batch; harder positives (lower similarity) get larger weights.

    Args:
        z1: first view, normalised.
        z2: second view, normalised.
        sigma: von Mises-Fisher concentration scale :math:`\\sigma > 0` (default 0.5).
        gather: softmax over the global batch (the similarities, ``N`` floats per rank, are
            gathered without gradient); None: when distributed.

    Shapes:
        z1, z2: ``(N, D)`` -> ``(N,)``.
    """
    check_positive("sigma", sigma)
    sims = (z1.detach() * z2.detach()).sum(dim=1) / sigma
    if not sdist.default_gather(gather):
        return 2.0 - sims.shape[0] * torch.softmax(sims, dim=0)
    all_sims = sdist.gather_no_grad(sims)
    weights = 2.0 - all_sims.shape[0] * torch.softmax(all_sims, dim=0)
    start = sdist.rank() * sims.shape[0]
    return weights[start : start + sims.shape[0]]


def _check_weight_fn(weight_fn: str | None, sigma: float) -> None:
    if weight_fn not in _WEIGHT_FNS:
        raise ValueError(f"weight_fn must be None (DCL) or 'vmf' (DCLW), got {weight_fn!r}.")
    check_positive("sigma", sigma)


@autocast_off
def dcl(
    z1: Tensor,
    z2: Tensor,
    temperature: float | Tensor = 0.1,
    *,
    weight_fn: str | None = None,
    sigma: float = 0.5,
    gather: bool | None = None,
    chunk_size: int | None = None,
) -> Tensor:
    """Decoupled contrastive loss (Yeh et al., ECCV 2022, arXiv 2110.06848, Eq. 6).

    With L2-normalised views and ``s(a, b) = a . b``, for anchor ``z_i^(k)`` (view ``k``):

    .. math::

        L_i^{(k)} = -w_i \\frac{s(z_i^{(1)}, z_i^{(2)})}{\\tau}
            + \\log \\sum_{l \\in \\{1,2\\}} \\sum_{j \\ne i}
              \\exp\\left(\\frac{s(z_i^{(k)}, z_j^{(l)})}{\\tau}\\right), \\qquad
        L = \\frac{1}{2N} \\sum_{k=1}^{2} \\sum_{i=1}^{N} L_i^{(k)}

    i.e. **one** log-sum-exp over the 2N-2 negatives (both views of every other sample; the
    anchor and its positive are excluded exactly), symmetric in the two views. ``w_i = 1``
    for DCL; DCLW (``weight_fn="vmf"``) uses ``w_i = 2 - N softmax_i(s(z_i^1, z_i^2)/sigma)``
    on detached inputs (:func:`vmf_weights`; the paper's form, ``N`` = global batch).

    Conventions pinned (and tested): the mean over the 2N anchors, i.e.
    ``0.5 * (L(z1, z2) + L(z2, z1))`` as in lightly's ``DCLLoss``; the official code
    (``raminnakhli/Decoupled-Contrastive-Learning``) returns the *sum* of both directions
    (2x this value) and masks with ``log(1e-45)`` instead of ``-inf``. lightly before PR #1827
    used two separate log-sum-exps (``lse(sim_00) + lse(sim_01)``), which is wrong.

    Args:
        z1: first view embeddings.
        z2: second view embeddings, row ``i`` the same sample as ``z1[i]``.
        temperature: :math:`\\tau > 0` (default 0.1).
        weight_fn: None (DCL) or ``"vmf"`` (DCLW).
        sigma: DCLW scale :math:`\\sigma > 0` (default 0.5).
        gather: see ``Distributed``; None gathers when distributed.
        chunk_size: None for dense logits; an int streams column blocks of that size.

    Shapes:
        z1, z2: ``(N, D)`` -> scalar.

    Raises:
        ValueError: wrong ndim, shape mismatch, NaN/inf, fewer than 2 samples,
            ``temperature <= 0``, ``sigma <= 0``, unknown ``weight_fn`` or ``chunk_size <= 0``.

    Distributed:
        Both views are gathered **with gradient** and all other samples of every rank are
        negatives (as :func:`nt_xent`); the DCLW softmax runs over the global batch (the
        similarities are gathered without gradient). The loss is the mean over local anchors;
        with DDP's gradient averaging the parameter gradients equal one process on the
        concatenated batch.
    """
    gathering = sdist.default_gather(gather)
    check_views(z1, z2, gathering)
    check_temperature(temperature, chunk_size)
    _check_weight_fn(weight_fn, sigma)
    z1 = F.normalize(z1, dim=1)
    z2 = F.normalize(z2, dim=1)
    scale = 1.0 / temperature
    lse = two_view_lse(z1, z2, scale, decoupled=True, gathering=gathering, chunk_size=chunk_size)
    positive = (z1 * z2).sum(dim=1).to(lse.dtype) * scale
    if weight_fn == "vmf":
        positive = positive * vmf_weights(z1, z2, sigma, gather=gathering).to(lse.dtype)
    return (lse - positive.repeat(2)).mean()


class DCLLoss(nn.Module):
    """Module form of :func:`dcl` (DCL, or DCLW with ``weight_fn="vmf"``).

    Args:
        temperature: :math:`\\tau > 0` (default 0.1).
        weight_fn: None (DCL) or ``"vmf"`` (DCLW).
        sigma: DCLW scale (default 0.5).
        gather: gather both views across ranks (None: when distributed).
        chunk_size: stream column blocks of this size (None: dense).

    Shapes:
        forward(z1 ``(N, D)``, z2 ``(N, D)``) -> scalar.

    Distributed:
        As :func:`dcl`: views gathered with gradient, DCLW softmax over the global batch.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        weight_fn: str | None = None,
        sigma: float = 0.5,
        gather: bool | None = None,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        check_temperature(temperature, chunk_size)
        _check_weight_fn(weight_fn, sigma)
        self.temperature = temperature
        self.weight_fn = weight_fn
        self.sigma = sigma
        self.gather = gather
        self.chunk_size = chunk_size

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return dcl(
            z1,
            z2,
            self.temperature,
            weight_fn=self.weight_fn,
            sigma=self.sigma,
            gather=self.gather,
            chunk_size=self.chunk_size,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, weight_fn={self.weight_fn!r}, sigma={self.sigma}, "
            f"gather={self.gather}, chunk_size={self.chunk_size}"
        )

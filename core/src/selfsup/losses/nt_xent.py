"""NT-Xent (SimCLR): 2N anchors, the other view positive, both views of every other sample
negative."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from selfsup import distributed as sdist
from selfsup.losses._contrastive import check_temperature, check_views, two_view_lse
from selfsup.precision import autocast_off

__all__ = ["NTXentLoss", "nt_xent"]


@autocast_off
def nt_xent(
    z1: Tensor,
    z2: Tensor,
    temperature: float | Tensor = 0.5,
    *,
    decoupled: bool = False,
    normalize: bool = True,
    gather: bool | None = None,
    chunk_size: int | None = None,
) -> Tensor:
    """NT-Xent, the SimCLR loss (Chen et al., arXiv 2002.05709).

    With ``Z = [z1; z2]`` (2N rows, L2-normalised when ``normalize``), ``s_ab = Z_a . Z_b``
    and ``p(a)`` the other view of anchor ``a``:

    .. math::

        \\ell_a = -\\frac{s_{a,p(a)}}{\\tau}
                 + \\log \\sum_{b \\ne a} \\exp\\left(\\frac{s_{ab}}{\\tau}\\right), \\qquad
        L = \\frac{1}{2N} \\sum_{a=1}^{2N} \\ell_a

    The anchor itself is excluded exactly (``-inf``, not a large negative constant); the sum
    runs over the positive and the 2(N-1) negatives (both views of every other sample).
    ``decoupled=True`` also drops the positive from the sum (DCL, arXiv 2110.06848; see
    :func:`selfsup.losses.dcl` for the weighted variant). On CUDA the log-sum-exp runs in a
    fused Triton kernel when Triton is installed (symmetric form: one backward pass), with or
    without ``chunk_size`` (:mod:`selfsup.kernels.lse`).

    Args:
        z1: first view embeddings.
        z2: second view embeddings, row ``i`` the same sample as ``z1[i]``.
        temperature: :math:`\\tau > 0` (default 0.5, the CIFAR-10 setting; 0.1 for ImageNet).
        decoupled: drop the positive from the denominator.
        normalize: L2-normalise the rows (default True).
        gather: see ``Distributed``; None gathers when distributed.
        chunk_size: None for the dense ``2N x 2N`` logits; an int streams column blocks of
            that size (O(N·chunk) extra memory, same values and gradients).

    Shapes:
        z1, z2: ``(N, D)`` -> scalar.

    Raises:
        ValueError: wrong ndim, shape mismatch, NaN/inf, fewer than 2 samples,
            ``temperature <= 0`` or ``chunk_size <= 0``.

    Distributed:
        With gathering on, both views of every rank are gathered **with gradient**
        (:func:`selfsup.distributed.gather`) and serve as negatives for the ``2N`` local
        anchors (self and positive found at offset ``rank·N`` in each view's block; every rank
        must pass the same ``N``). The loss is the mean over local anchors; with DDP's
        gradient averaging the parameter gradients equal one process on the concatenated
        batch (lightly #1528 and solo-learn #206 broke exactly this).
    """
    gathering = sdist.default_gather(gather)
    check_views(z1, z2, gathering)
    check_temperature(temperature, chunk_size)
    if normalize:
        z1 = F.normalize(z1, dim=1)
        z2 = F.normalize(z2, dim=1)
    scale = 1.0 / temperature
    lse = two_view_lse(
        z1, z2, scale, decoupled=decoupled, gathering=gathering, chunk_size=chunk_size
    )
    positive = (z1 * z2).sum(dim=1).to(lse.dtype) * scale
    return (lse - positive.repeat(2)).mean()


class NTXentLoss(nn.Module):
    """Module form of :func:`nt_xent`.

    Args:
        temperature: :math:`\\tau > 0` (default 0.5).
        decoupled: drop the positive from the denominator.
        normalize: L2-normalise rows first.
        gather: gather both views across ranks (None: when distributed).
        chunk_size: stream column blocks of this size (None: dense).

    Shapes:
        forward(z1 ``(N, D)``, z2 ``(N, D)``) -> scalar.

    Distributed:
        As :func:`nt_xent`: both views gathered with gradient.
    """

    def __init__(
        self,
        temperature: float = 0.5,
        *,
        decoupled: bool = False,
        normalize: bool = True,
        gather: bool | None = None,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        check_temperature(temperature, chunk_size)
        self.temperature = temperature
        self.decoupled = decoupled
        self.normalize = normalize
        self.gather = gather
        self.chunk_size = chunk_size

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return nt_xent(
            z1,
            z2,
            self.temperature,
            decoupled=self.decoupled,
            normalize=self.normalize,
            gather=self.gather,
            chunk_size=self.chunk_size,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, decoupled={self.decoupled}, "
            f"normalize={self.normalize}, gather={self.gather}, chunk_size={self.chunk_size}"
        )

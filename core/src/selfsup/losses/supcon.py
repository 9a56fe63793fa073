"""SupCon: contrastive learning with every same-label view as a positive (multi-positive)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup import distributed as sdist
from selfsup.checks import check_matrix
from selfsup.kernels.lse import similarity_logsumexp
from selfsup.losses._contrastive import check_temperature
from selfsup.precision import autocast_off

__all__ = ["SupConLoss", "supcon"]


@autocast_off
def supcon(
    *views: Tensor,
    labels: Tensor | None = None,
    temperature: float | Tensor = 0.1,
    normalize: bool = True,
    gather: bool | None = None,
    chunk_size: int | None = None,
) -> Tensor:
    """Supervised contrastive loss :math:`L^{out}` (Khosla et al., arXiv 2004.11362, Eq. 2).

    The ``V`` views of ``N`` samples give ``M = V N`` anchors; anchor ``a``'s positives
    :math:`P(a)` are every other view whose sample has the same label, its denominator every
    other view:

    .. math::

        \\ell_a = \\log \\sum_{b \\ne a} e^{z_a \\cdot z_b / \\tau}
            - \\frac{1}{|P(a)|} \\sum_{p \\in P(a)} \\frac{z_a \\cdot z_p}{\\tau}, \\qquad
        L = \\frac{1}{M} \\sum_a \\ell_a

    The positive term is computed from per-label sums of the rows,
    :math:`\\sum_{p \\in P(a)} z_p = S_{y_a} - z_a`, so no ``M x M`` mask is built: with the
    streamed or fused log-sum-exp (``chunk_size``, :mod:`selfsup.kernels.lse`) memory stays
    O(M·chunk). Without ``labels`` every sample is its own class: two views give NT-Xent
    (SimCLR) exactly, more views SimCLR's multi-view form. Labels may be pseudo-labels
    (cluster ids): same-cluster samples then attract instead of repelling (the false-negative
    handling of G-SimCLR-style batches). The reference code's ``temperature /
    base_temperature`` factor is 1 at its defaults and left out.

    Args:
        views: ``V >= 2`` views, row ``i`` of each the same sample.
        labels: Class id per sample (None: each sample its own class).
        temperature: :math:`\\tau > 0` (default 0.1; the paper's 0.1, CIFAR 0.5 for SimCLR).
        normalize: L2-normalise the rows (default True).
        gather: see ``Distributed``; None gathers when distributed.
        chunk_size: None for the dense ``M x M`` logits; an int streams column blocks.

    Shapes:
        views: each ``(N, D)``; labels: ``(N,)`` int64. Output: scalar.

    Raises:
        ValueError: fewer than two views, mismatched shapes, NaN/inf, bad labels, fewer than
            two samples overall, ``temperature <= 0``.

    Distributed:
        With gathering on, every rank's views (with gradient) and labels are gathered and
        serve as the columns for the local anchors; self is found at its global column. Every
        rank passes the same ``N``; the loss is the mean over local anchors, so with DDP's
        averaging the gradients equal one process on the concatenated batch.

    Examples:
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> supcon(z1, z2, labels=torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])).shape
        torch.Size([])
    """
    if len(views) < 2:
        raise ValueError(
            f"supcon needs at least two views of each sample, got {len(views)}; pass them as "
            "supcon(z1, z2, ..., labels=y)."
        )
    for i, z in enumerate(views):
        check_matrix(f"views[{i}]", z)
    if len({tuple(z.shape) for z in views}) != 1:
        raise ValueError(
            f"views must share one (N, D) shape, got {[tuple(z.shape) for z in views]}."
        )
    n = views[0].shape[0]
    if labels is None:
        labels = torch.arange(n, device=views[0].device) + sdist.rank() * n
    elif not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != (n,):
        got = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, Tensor) else labels
        raise ValueError(f"labels must be an int64 tensor of shape (N,) = ({n},), got {got}.")
    check_temperature(temperature, chunk_size)
    gathering = sdist.default_gather(gather)
    if n < 2 and not (gathering and sdist.world_size() > 1):
        # one sample: its only other row is its positive, so the loss is 0 with no gradient
        raise ValueError(
            "supcon got one sample: with no other sample the loss is 0 with no gradient. "
            "Contrast at least 2 samples per batch (drop_last=True drops a last batch of 1)."
        )
    anchors = torch.cat(views)  # view-major: row v * N + i
    if normalize:
        anchors = F.normalize(anchors, dim=1)
    row_labels = labels.repeat(len(views))
    if gathering:
        cols = sdist.gather(anchors)
        col_labels = sdist.gather_no_grad(row_labels)
        self_col = (
            torch.arange(anchors.shape[0], device=anchors.device) + sdist.rank() * anchors.shape[0]
        )
    else:
        cols, col_labels = anchors, row_labels
        self_col = torch.arange(anchors.shape[0], device=anchors.device)
    scale = 1.0 / temperature
    lse = similarity_logsumexp(
        anchors,
        cols,
        scale,
        exclude=self_col[:, None],
        symmetric=cols is anchors,
        chunk_size=chunk_size,
    )
    _, classes = torch.unique(col_labels, return_inverse=True)
    sums = cols.new_zeros(int(classes.max()) + 1, cols.shape[1]).index_add(0, classes, cols)
    counts = torch.bincount(classes)
    own = classes[self_col]
    positives = sums[own] - anchors  # every same-label row but the anchor itself
    mean_positive = (anchors * positives).sum(1).to(lse.dtype) * scale / (counts[own] - 1)
    return (lse - mean_positive).mean()


class SupConLoss(nn.Module):
    """:func:`supcon` as a module (temperature and options fixed at construction).

    Examples:
        >>> loss = SupConLoss(temperature=0.1)
        >>> value = loss(torch.randn(4, 8), torch.randn(4, 8), labels=torch.tensor([0, 1, 0, 1]))
    """

    def __init__(
        self, temperature: float = 0.1, gather: bool | None = None, chunk_size: int | None = None
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.gather = gather
        self.chunk_size = chunk_size

    def forward(self, *views: Tensor, labels: Tensor | None = None) -> Tensor:
        return supcon(
            *views,
            labels=labels,
            temperature=self.temperature,
            gather=self.gather,
            chunk_size=self.chunk_size,
        )

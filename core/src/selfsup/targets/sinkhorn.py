"""Sinkhorn-Knopp: equipartitioned soft cluster assignments of a batch (SwAV's codes)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from selfsup import distributed as sdist
from selfsup.checks import check_matrix

__all__ = ["sinkhorn_knopp"]


@torch.no_grad()
def sinkhorn_knopp(
    scores: Tensor,
    epsilon: float = 0.05,
    iterations: int = 3,
    *,
    gather: bool | None = None,
) -> Tensor:
    """Soft assignments of ``B`` samples to ``K`` prototypes with equal cluster mass.

    .. math::

        Q \\leftarrow \\exp(S^\\top / \\varepsilon) / \\textstyle\\sum Q, \\quad
        \\text{repeat: } Q_{k\\cdot} \\leftarrow \\frac{Q_{k\\cdot}}{K \\sum_b Q_{kb}},\\
        Q_{\\cdot b} \\leftarrow \\frac{Q_{\\cdot b}}{B \\sum_k Q_{kb}}

    then ``B Q^T``: every row (sample) sums to 1 and every prototype receives about ``B / K``
    of the mass, which keeps the codes from collapsing onto one prototype (Caron et al., SwAV,
    arXiv 2006.09882, Sec. 3.1 and ``distributed_sinkhorn`` of the reference code, whose steps
    and defaults -- epsilon 0.05, 3 iterations -- these are). Computed in the log domain in
    float64 (the same steps as log-sum-exp normalisations), so scores far apart neither
    overflow, as the reference's ``exp(S / eps)`` does, nor underflow to empty columns; no
    gradient.

    Args:
        scores: Prototype scores (e.g. cosine similarities of embeddings and prototypes).
        epsilon: Entropy regularisation (default 0.05).
        iterations: Normalisation rounds (default 3).
        gather: Normalise over every rank's samples (``B`` is the global batch; the row and
            column sums are ``all_reduce``-d, the scores are not gathered). None: when
            distributed.

    Shapes:
        scores: ``(B, K)`` -> ``(B, K)``, in the scores' dtype.

    Raises:
        ValueError: ``scores`` not a finite ``(B, K)`` matrix, ``epsilon <= 0`` or
            ``iterations < 1``.

    Examples:
        >>> q = sinkhorn_knopp(torch.randn(8, 4))
        >>> torch.allclose(q.sum(1), torch.ones(8), atol=1e-6)
        True
    """
    check_matrix("scores", scores)
    if not epsilon > 0 or iterations < 1:
        raise ValueError(f"need epsilon > 0 and iterations >= 1, got {epsilon}, {iterations}.")
    gathering = sdist.default_gather(gather) and sdist.is_distributed()
    log_q = scores.detach().double().T / epsilon  # (K, B)
    k = log_q.shape[0]
    batch = torch.tensor(float(log_q.shape[1]), dtype=torch.float64, device=log_q.device)
    if gathering:
        torch.distributed.all_reduce(batch)
    log_k, log_b = math.log(k), torch.log(batch)
    log_q = log_q - _logsumexp(log_q.flatten(), 0, gathering)
    for _ in range(iterations):
        log_q = log_q - _logsumexp(log_q, 1, gathering)[:, None] - log_k  # prototypes: 1 / K
        log_q = log_q - torch.logsumexp(log_q, 0, keepdim=True) - log_b  # samples: 1 / B
    return torch.exp(log_q + log_b).T.to(scores.dtype)


def _logsumexp(x: Tensor, dim: int, gathering: bool) -> Tensor:
    """``log sum exp`` along ``dim``, over every rank's entries when gathering (the samples
    are split over ranks)."""
    if not gathering:
        return torch.logsumexp(x, dim)
    top = x.max(dim).values
    torch.distributed.all_reduce(top, op=torch.distributed.ReduceOp.MAX)
    shifted = top.unsqueeze(dim) if x.dim() > 1 else top
    total = torch.exp(x - shifted).sum(dim)
    torch.distributed.all_reduce(total)
    return top + torch.log(total)

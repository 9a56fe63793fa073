"""DirectPred: BYOL's linear predictor set from feature statistics instead of trained."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DirectPredictor", "directpred_weight"]


def directpred_weight(corr: Tensor, eps: float) -> Tensor:
    """The DirectPred predictor ``W_p = U diag(p) U^T`` of a correlation matrix ``F``.

    .. math::

        F = U \\operatorname{diag}(s) U^\\top, \\quad s \\leftarrow \\max(s, 0), \\quad
        p_j = \\max\\left(\\sqrt{s_j / \\max_k s_k} + \\epsilon,\\ 10^{-4}\\right)

    (Tian, Chen and Ganguli, ICML 2021, arXiv 2102.06810; reference
    ``facebookresearch/luckmatters`` ``ssl/real-dataset/byol_trainer.py`` ``compute_w_corr`` with
    ``dyn_convert=2``, ``balance_type="boost_scale"``.) Computed in float64; an all-zero ``F``
    gives ``p_j = eps`` (clamped).

    Shapes:
        corr: ``(D, D)`` symmetric -> ``(D, D)`` in ``corr``'s dtype.
    """
    s, u = torch.linalg.eigh(corr.double())
    s = s.clamp_min(0.0)
    top = s.max()
    ratio = s / top if top > 0 else torch.zeros_like(s)
    p = (ratio.sqrt() + eps).clamp_min(1e-4)
    return ((u * p) @ u.T).to(corr.dtype)


class DirectPredictor(nn.Module):
    """Linear predictor ``p = W_p z`` whose weight is set by :func:`directpred_weight`.

    Follows ``facebookresearch/luckmatters`` (``BYOLTrainer``, ``predictor_reg="corr"``). Once per
    training step, *before* that step's predictions, the owner calls :meth:`observe` with the
    step's online projections ``z`` (both views). At call ``t``:

    1. if ``t >= 1`` and ``(t - 1) % freq == 0``: ``W_p <- directpred_weight(F, eps)``, i.e. from
       the correlation of steps ``0 .. t-1`` (the reference sets ``W_p`` after the optimiser
       step of iteration ``t - 1``; doing it at the start of step ``t`` gives the same weight
       and never changes a tensor autograd has saved);
    2. ``F <- E_B[z z^T]`` at ``t = 0``, else ``F <- rho F + (1 - rho) E_B[z z^T]`` (the
       reference's ``Accumulator``: the first batch initialises ``F``, no bias towards 0).

    With ``trainable=True`` (default, the reference: its linear predictor stays in the predictor
    optimiser) ``W_p`` is an ``nn.Parameter`` that gradient descent also updates between two
    refreshes; with ``freq = 1`` every refresh overwrites it, so this only matters for
    ``freq > 1`` (the paper's "DirectPred (freq=5)"). ``trainable=False`` keeps ``W_p`` a buffer,
    fixed between refreshes. ``F``, ``W_p`` and the call counter are checkpointed. ``W_p`` starts
    as the identity (the reference starts from a random linear layer, used for one step).

    Args:
        dim: Feature size ``D``.
        rho: Correlation EMA factor ``rho`` in ``[0, 1)`` (default 0.3, luckmatters
            ``dyn_lambda``, README command).
        eps: Added to the eigenvalue ratios' square roots (default 0.01, ``dyn_eps``, README
            command; the paper's Eq. 18).
        freq: Recompute ``W_p`` every this many training calls (default 1, ``predictor_freq``).
        trainable: ``W_p`` is also trained between refreshes (default True, the reference).

    Shapes:
        z: ``(B, D)`` -> ``(B, D)``.

    Raises:
        ValueError: ``dim < 1``, ``rho`` outside ``[0, 1)``, ``eps < 0`` or ``freq < 1``.
    """

    corr: Tensor
    weight: Tensor
    calls: Tensor

    def __init__(
        self,
        dim: int,
        rho: float = 0.3,
        eps: float = 0.01,
        freq: int = 1,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}.")
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must lie in [0, 1), got {rho}.")
        if eps < 0:
            raise ValueError(f"eps must be >= 0, got {eps}.")
        if freq < 1:
            raise ValueError(f"freq must be >= 1, got {freq}.")
        self.rho, self.eps, self.freq = float(rho), float(eps), int(freq)
        self.trainable = bool(trainable)
        self.register_buffer("corr", torch.zeros(dim, dim))
        if self.trainable:
            self.weight = nn.Parameter(torch.eye(dim))
        else:
            self.register_buffer("weight", torch.eye(dim))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def observe(self, z: Tensor) -> None:
        """Refresh ``W_p`` from the past steps' ``F`` when due, then fold ``z`` into ``F``."""
        t = int(self.calls)
        if t >= 1 and (t - 1) % self.freq == 0:
            self.weight.copy_(directpred_weight(self.corr, self.eps))
        z = z.detach().to(self.corr.dtype)
        batch_corr = z.T @ z / z.shape[0]
        if t == 0:
            self.corr.copy_(batch_corr)
        else:
            self.corr.mul_(self.rho).add_(batch_corr, alpha=1.0 - self.rho)
        self.calls.add_(1)

    def forward(self, z: Tensor) -> Tensor:
        return z @ self.weight.to(z.dtype).T

    def extra_repr(self) -> str:
        return (
            f"dim={self.weight.shape[0]}, rho={self.rho}, eps={self.eps}, freq={self.freq}, "
            f"trainable={self.trainable}"
        )

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
    """Linear predictor ``p = W_p z`` whose weight follows :func:`directpred_weight`.

    Once per training step, *before* any prediction of that step (``W_p`` is updated in place and
    autograd must not see it change), the owner calls :meth:`observe` with the step's online
    projections: the running correlation ``F <- rho F + (1 - rho) E_B[z z^T]`` is updated and,
    every ``freq`` calls, ``W_p`` is recomputed from ``F``. ``F``, ``W_p`` and the call counter
    are persistent buffers (checkpointed); ``W_p`` starts as the identity. Nothing is trained:
    gradients flow through ``W_p z`` to ``z`` only.

    Args:
        dim: Feature size ``D``.
        rho: Correlation EMA factor ``rho`` in ``[0, 1)`` (default 0.3, luckmatters
            ``dyn_lambda``).
        eps: Added to the eigenvalue ratios' square roots (default 0.1, ``dyn_eps``).
        freq: Recompute ``W_p`` every this many training calls (default 1).

    Shapes:
        z: ``(B, D)`` -> ``(B, D)``.

    Raises:
        ValueError: ``dim < 1``, ``rho`` outside ``[0, 1)``, ``eps < 0`` or ``freq < 1``.
    """

    corr: Tensor
    weight: Tensor
    calls: Tensor

    def __init__(self, dim: int, rho: float = 0.3, eps: float = 0.1, freq: int = 1) -> None:
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
        self.register_buffer("corr", torch.zeros(dim, dim))
        self.register_buffer("weight", torch.eye(dim))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def observe(self, z: Tensor) -> None:
        """Fold a batch into ``F`` and refresh ``W_p`` when due."""
        z = z.detach().to(self.corr.dtype)
        self.corr.mul_(self.rho).add_(z.T @ z / z.shape[0], alpha=1.0 - self.rho)
        if int(self.calls) % self.freq == 0:
            self.weight.copy_(directpred_weight(self.corr, self.eps))
        self.calls.add_(1)

    def forward(self, z: Tensor) -> Tensor:
        return z @ self.weight.to(z.dtype).T

    def extra_repr(self) -> str:
        return f"dim={self.weight.shape[0]}, rho={self.rho}, eps={self.eps}, freq={self.freq}"

"""Masked-prediction losses: token classification (BERT/BEiT/MLM) and latent regression (JEPA)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.checks import check_finite, check_positive, check_probability
from selfsup.precision import autocast_off, promote

__all__ = [
    "LatentRegressionLoss",
    "MaskedTokenCrossEntropyLoss",
    "latent_regression",
    "masked_token_cross_entropy",
]

_KINDS = ("mse", "smooth_l1", "l1")


def _check_mask(mask: Tensor, shape: tuple[int, ...], expected: str) -> int:
    """Require a bool mask of ``shape`` with at least one True; return the count."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor (True = predict here), got {got}.")
    if tuple(mask.shape) != shape:
        raise ValueError(f"mask must have shape {expected} = {shape}, got {tuple(mask.shape)}.")
    count = int(mask.sum())
    if count == 0:
        raise ValueError(
            "mask selects no position, so the loss would be 0/0; check the mask generator "
            "(mask ratio, or a batch of all-padding sequences)."
        )
    return count


@autocast_off
def masked_token_cross_entropy(
    logits: Tensor, targets: Tensor, mask: Tensor, *, label_smoothing: float = 0.0
) -> Tensor:
    """Cross-entropy on masked positions only (BERT arXiv 1810.04805, BEiT arXiv 2106.08254).

    .. math::

        L = \\frac{1}{|M|} \\sum_{(b, l) \\in M} -\\log \\operatorname{softmax}(x_{b,l})_{t_{b,l}}

    with ``M`` the positions where ``mask`` is True (label smoothing, if any, as in
    :func:`torch.nn.functional.cross_entropy`). Unmasked positions contribute neither value
    nor gradient, and their targets are never read: they may hold anything (e.g. ``-100``).

    Args:
        logits: unnormalised scores over the vocabulary / codebook.
        targets: integer class ids; only those at masked positions must lie in ``[0, V)``.
        mask: True where the token was masked and must be predicted.
        label_smoothing: in ``[0, 1)`` (default 0).

    Shapes:
        logits: ``(B, L, V)``; targets: ``(B, L)`` integer; mask: ``(B, L)`` bool -> scalar.

    Raises:
        ValueError: wrong ndim/shape/dtype, NaN/inf logits, an empty mask, a masked target
            outside ``[0, V)`` or ``label_smoothing`` outside ``[0, 1)``.

    Distributed:
        Nothing gathered; mean over the local masked positions (ranks with different mask
        counts are weighted equally by DDP's averaging, as in the reference implementations).
    """
    if not isinstance(logits, Tensor) or logits.dim() != 3:
        got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(
            f"logits must have shape (B, L, V), got {got}; for (N, V) inputs add a length "
            "dimension with logits.unsqueeze(1)."
        )
    if not logits.is_floating_point():
        raise ValueError(f"logits must be a floating-point tensor, got {logits.dtype}.")
    b, length, vocab = logits.shape
    if not isinstance(targets, Tensor) or tuple(targets.shape) != (b, length):
        got = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
        raise ValueError(f"targets must have shape (B, L) = {(b, length)}, got {got}.")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise ValueError(f"targets must hold integer class ids, got dtype {targets.dtype}.")
    check_probability("label_smoothing", label_smoothing)
    _check_mask(mask, (b, length), "(B, L)")
    check_finite("logits", logits)
    picked = targets[mask].long()
    low, high = int(picked.min()), int(picked.max())
    if low < 0 or high >= vocab:
        raise ValueError(
            f"targets at masked positions must lie in [0, {vocab}) (V = logits.shape[-1]), "
            f"got values in [{low}, {high}]; check the tokenizer / codebook size."
        )
    (masked,) = promote(logits[mask])
    return F.cross_entropy(masked, picked, label_smoothing=label_smoothing)


@autocast_off
def latent_regression(
    pred: Tensor,
    target: Tensor,
    *,
    kind: str = "mse",
    beta: float = 1.0,
    mask: Tensor | None = None,
) -> Tensor:
    """Regression of predicted latents onto target latents (I-JEPA arXiv 2301.08243,
    V-JEPA arXiv 2404.08471, data2vec arXiv 2202.03555).

    .. math::

        L = \\frac{1}{|M| D} \\sum_{t \\in M} \\sum_{d} \\rho(\\hat z_{t,d} - z_{t,d})

    with ``rho`` the squared error (``"mse"``), the smooth-L1/Huber loss with threshold
    ``beta`` (``"smooth_l1"``, I-JEPA's ``F.smooth_l1_loss``) or the absolute error
    (``"l1"``, V-JEPA), and ``M`` every token, or the tokens where ``mask`` is True.

    The target is **not** detached: JEPA / data2vec targets come from an EMA teacher run under
    ``torch.no_grad()`` (then nothing flows anyway), and detaching silently would hide a
    caller bug or break a deliberate design (e.g. a jointly trained target encoder). Detach
    or use ``no_grad`` in the caller when the target must be a constant.

    Args:
        pred: predictor output.
        target: target latents (typically normalised teacher features).
        kind: ``"mse"`` (default), ``"smooth_l1"`` or ``"l1"``.
        beta: smooth-L1 threshold, > 0 (default 1.0; only for ``"smooth_l1"``).
        mask: optional bool over the token dimensions; average over True tokens only.

    Shapes:
        pred, target: ``(..., D)`` with at least two dims (e.g. ``(B, T, D)``); mask:
        ``pred.shape[:-1]`` -> scalar.

    Raises:
        ValueError: shape mismatch, fewer than 2 dims, non-float or NaN/inf inputs, unknown
            ``kind``, ``beta <= 0``, or a bad / empty ``mask``.

    Distributed:
        Nothing gathered; mean over local (masked) tokens.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
    check_positive("beta", beta)
    for name, x in (("pred", pred), ("target", target)):
        if not isinstance(x, Tensor) or x.dim() < 2 or not x.is_floating_point():
            got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{name} must be a floating-point tensor of shape (..., D) with at least 2 "
                f"dims, got {got}."
            )
    if pred.shape != target.shape:
        raise ValueError(
            f"shape mismatch: pred={tuple(pred.shape)}, target={tuple(target.shape)}; the "
            "predictor must output one latent per target token."
        )
    if pred.numel() == 0:
        # the mean of nothing is NaN: say so instead of returning it
        raise ValueError(
            f"latent_regression got an empty batch (pred shape {tuple(pred.shape)}); there is "
            "nothing to regress: check the batch size and the number of target tokens."
        )
    check_finite("pred", pred)
    check_finite("target", target)
    pred, target = promote(pred, target)
    if kind == "mse":
        err = (pred - target).pow(2)
    elif kind == "smooth_l1":
        err = F.smooth_l1_loss(pred, target, reduction="none", beta=beta)
    else:
        err = (pred - target).abs()
    if mask is None:
        return err.mean()
    _check_mask(mask, tuple(pred.shape[:-1]), "pred.shape[:-1]")
    return err.mean(dim=-1)[mask].mean()


class MaskedTokenCrossEntropyLoss(nn.Module):
    """Module form of :func:`masked_token_cross_entropy`.

    Args:
        label_smoothing: in ``[0, 1)`` (default 0).

    Shapes:
        forward(logits ``(B, L, V)``, targets ``(B, L)``, mask ``(B, L)``) -> scalar.

    Distributed:
        Nothing gathered.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        check_probability("label_smoothing", label_smoothing)
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        return masked_token_cross_entropy(
            logits, targets, mask, label_smoothing=self.label_smoothing
        )

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"


class LatentRegressionLoss(nn.Module):
    """Module form of :func:`latent_regression` (target not detached: see there).

    Args:
        kind: ``"mse"``, ``"smooth_l1"`` or ``"l1"``.
        beta: smooth-L1 threshold (default 1.0).

    Shapes:
        forward(pred ``(..., D)``, target ``(..., D)``, mask ``pred.shape[:-1]`` optional)
        -> scalar.

    Distributed:
        Nothing gathered.
    """

    def __init__(self, kind: str = "mse", beta: float = 1.0) -> None:
        super().__init__()
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
        check_positive("beta", beta)
        self.kind = kind
        self.beta = beta

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return latent_regression(pred, target, kind=self.kind, beta=self.beta, mask=mask)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, beta={self.beta}"

"""Speaker perturbations and per-utterance normalisation of fbank batches.

FSDD's six speakers differ in vocal-tract length (formant positions), pitch and
recording level. These functions perturb or remove those factors so that a pre-trained encoder
(or a probe) cannot lean on them; see the speaker-independent benchmark in the plugin README.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfsup_audio.augment.spec_augment import _check

__all__ = ["frequency_warp", "random_frequency_warp", "utterance_cmvn"]


def _source_positions(alpha: Tensor, bins: int, cutoff: float) -> Tensor:
    """``(B, bins)`` fractional input bin read by every output bin (piecewise-linear VTLN)."""
    top = float(bins - 1)
    knee = cutoff * top
    out = torch.arange(bins, dtype=alpha.dtype, device=alpha.device)[None, :]
    a = alpha[:, None]
    low = out / a
    # the upper segment joins (knee, knee / alpha) to (top, top): both ends of the axis stay put
    high = knee / a + (out - knee) * (top - knee / a) / (top - knee)
    return torch.where(out <= knee, low, high).clamp(0.0, top)


def frequency_warp(fbank: Tensor, alpha: Tensor | float, *, cutoff: float = 0.8) -> Tensor:
    """Vocal-tract-length perturbation (VTLP, Jaitly and Hinton 2013) on the mel-bin axis.

    Output bin ``i`` of clip ``b`` is the linear interpolation of the input at the source
    position

    .. math::

        s(i) = \\begin{cases} i / \\alpha_b & i \\le k \\\\
        k / \\alpha_b + (i - k) \\frac{F - 1 - k / \\alpha_b}{F - 1 - k} & i > k
        \\end{cases}, \\qquad k = \\mathrm{cutoff} \\cdot (F - 1),

    so ``alpha > 1`` moves spectral peaks (formants) up by that factor, ``alpha < 1`` down, and
    bins 0 and ``F - 1`` stay fixed (Kaldi's piecewise-linear VTLN, applied to bin indices
    rather than Hz: mel bins are close to linear in Hz below 1 kHz and the warp is a
    perturbation, not a model). Padded frames that are 0 stay 0.

    Args:
        fbank: ``(B, T, F)`` features.
        alpha: Warp factor per clip ``(B,)``, or one float for all; each must be in
            ``(cutoff, 1 / cutoff)`` so that the map stays monotone.
        cutoff: Knee of the piecewise-linear map as a fraction of the axis (default 0.8).

    Shapes:
        fbank ``(B, T, F)``, alpha ``(B,)`` or scalar -> ``(B, T, F)``.

    Raises:
        ValueError: malformed fbank, a cutoff outside (0, 1), or an alpha out of range.

    Examples:
        >>> x = torch.zeros(1, 1, 11)
        >>> x[0, 0, 5] = 1.0
        >>> frequency_warp(x, 1.0).equal(x)
        True
        >>> frequency_warp(x, 1.2)[0, 0, 6]  # output bin 6 reads input bin 6 / 1.2 = 5: moved up
        tensor(1.)
    """
    _check(fbank, None)
    if not 0.0 < cutoff < 1.0:
        raise ValueError(f"cutoff must be in (0, 1), got {cutoff}.")
    b, _, f = fbank.shape
    a = torch.as_tensor(alpha, dtype=fbank.dtype, device=fbank.device)
    a = a.expand(b) if a.dim() == 0 else a
    if a.shape != (b,):
        raise ValueError(f"alpha must be a float or a ({b},) tensor, got {tuple(a.shape)}.")
    if bool(((a <= cutoff) | (a >= 1.0 / cutoff)).any()):
        raise ValueError(f"alpha must lie in ({cutoff}, {1.0 / cutoff:.4g}), got {a.tolist()}.")
    src = _source_positions(a, f, cutoff)  # (B, F)
    lo = src.floor().long().clamp(max=f - 1)
    hi = (lo + 1).clamp(max=f - 1)
    w = (src - lo.to(src.dtype))[:, None, :]

    def take(idx: Tensor) -> Tensor:
        return fbank.gather(2, idx[:, None, :].expand_as(fbank))

    return take(lo) * (1 - w) + take(hi) * w


def random_frequency_warp(
    fbank: Tensor,
    *,
    low: float = 0.9,
    high: float = 1.1,
    cutoff: float = 0.8,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`frequency_warp` with one factor per clip drawn from ``U[low, high]``.

    The default range, +-10 %, is the VTLP range of Jaitly and Hinton and about the spread of
    vocal-tract lengths among adult speakers of one sex (FSDD's six speakers are men).

    Shapes:
        fbank ``(B, T, F)`` -> warped ``(B, T, F)``, factors ``(B,)``.

    Raises:
        ValueError: ``low > high`` or a factor outside ``(cutoff, 1 / cutoff)``.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> y, alpha = random_frequency_warp(torch.randn(4, 10, 32), generator=g)
        >>> y.shape, bool(((alpha >= 0.9) & (alpha <= 1.1)).all())
        (torch.Size([4, 10, 32]), True)
    """
    if low > high:
        raise ValueError(f"low ({low}) must be <= high ({high}).")
    u = torch.rand(fbank.shape[0], generator=generator, dtype=torch.float64)
    alpha = (low + (high - low) * u).to(fbank.dtype).to(fbank.device)
    return frequency_warp(fbank, alpha, cutoff=cutoff), alpha


def utterance_cmvn(
    fbank: Tensor,
    padding_mask: Tensor | None = None,
    *,
    variance: bool = False,
    eps: float = 1e-5,
) -> Tensor:
    """Per-utterance cepstral mean (and variance) normalisation, per bin, over real frames.

    .. math::

        y_{b,t,f} = \\frac{x_{b,t,f} - \\mu_{b,f}}{\\sigma_{b,f} + \\epsilon}, \\quad
        \\mu_{b,f} = \\frac{1}{|V_b|} \\sum_{t \\in V_b} x_{b,t,f}

    (``sigma = 1`` without ``variance``; ``sigma`` is the population std over ``V_b``, the clip's
    non-padded frames). Removes each clip's average spectrum: the recording channel, the level
    and part of the speaker's long-term spectral envelope. Padded frames are set to 0.

    Shapes:
        fbank ``(B, T, F)``, padding_mask ``(B, T)`` (True = padding) or None -> ``(B, T, F)``.

    Raises:
        ValueError: malformed inputs or ``eps < 0``.

    Examples:
        >>> x = torch.tensor([[[1.0, 2.0], [3.0, 6.0], [9.0, 9.0]]])
        >>> utterance_cmvn(x, torch.tensor([[False, False, True]]))
        tensor([[[-1., -2.],
                 [ 1.,  2.],
                 [ 0.,  0.]]])
    """
    mask = _check(fbank, padding_mask)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}.")
    keep = (~mask).to(fbank.dtype)[..., None]
    count = keep.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (fbank * keep).sum(dim=1, keepdim=True) / count
    out = fbank - mean
    if variance:
        std = ((out * keep) ** 2).sum(dim=1, keepdim=True).div(count).sqrt()
        out = out / (std + eps)
    return out * keep

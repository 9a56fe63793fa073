"""Context/target feature subsets for tabular JEPA (T-JEPA, arXiv 2410.05016).

Runs on ``device`` without host syncs: subset sizes come from ``torch.randint`` and subsets from
noise ranks, so variable per-sample sizes need no ``nonzero`` and no ``.item()``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from selfsup.masking._sampling import check_count, check_range, resolve_device

__all__ = ["FeatureSubsetMask", "feature_subset_mask"]


class FeatureSubsetMask(NamedTuple):
    """Result of :func:`feature_subset_mask`; unpacks as ``context, targets = ...``.

    Attributes:
        context: ``True`` for the features the context encoder sees.
        targets: ``True`` for the features of each target subset.

    Shapes:
        context: ``(B, F)`` bool; targets: ``(B, T, F)`` bool.
    """

    context: Tensor
    targets: Tensor


def _bounds(name: str, ratio: tuple[float, float], num_features: int) -> tuple[int, int]:
    lo_r, hi_r = check_range(name, ratio, open_low=True)
    lo = max(1, math.floor(num_features * lo_r + 0.5))
    hi = max(lo, math.floor(num_features * hi_r + 0.5))
    return lo, hi


def _ranks(noise: Tensor) -> Tensor:
    """Rank of every entry along the last dim (0 = smallest); exact even with tied noise."""
    order = noise.argsort(dim=-1)
    arange = torch.arange(noise.shape[-1], device=noise.device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, arange)


def feature_subset_mask(
    batch_size: int,
    num_features: int,
    *,
    context_ratio: tuple[float, float] = (0.2, 0.4),
    num_targets: int = 4,
    target_ratio: tuple[float, float] = (0.2, 0.4),
    allow_overlap: bool = False,
    per_sample_size: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> FeatureSubsetMask:
    """Sample one context subset and ``num_targets`` target subsets of the features per sample.

    Sizes: ``lo = max(1, round(F * min))``, ``hi = round(F * max)``; the context size
    ``n_c ~ U{lo_c..hi_c}`` and the target size ``n_t ~ U{lo_t..hi_t}``. As in T-JEPA's
    ``MaskCollator`` one ``n_c`` and one ``n_t`` are drawn per batch and shared by all samples and
    targets (so gathered subsets stack into rectangular tensors); ``per_sample_size=True`` draws
    them per sample (and per target). Contents: the context is a uniform random ``n_c``-subset;
    each target is a uniform random ``n_t``-subset of the features **outside the context**
    (T-JEPA: targets are drawn from the remaining indices), drawn independently, so targets may
    overlap each other but never the context. T-JEPA resamples sizes until ``n_c + n_t <= F``;
    here ``hi_c`` is capped at ``F - lo_t`` and ``n_t`` at ``F - n_c`` instead (no rejection loop).
    ``allow_overlap=True`` draws targets from all features (no cap).

    Indices are over the ``F`` features only. T-JEPA draws from ``range(F)`` but gathers from a
    sequence whose position 0 is the [REG] token (an off-by-one: [REG] is maskable and the last
    feature never selected). With ``R`` leading register tokens, pad the masks:
    ``torch.nn.functional.pad(context, (R, 0), value=True)`` (registers always in the context) and
    ``pad(targets, (R, 0), value=False)``.

    Args:
        batch_size: ``B``, number of rows.
        num_features: ``F``, feature tokens per row.
        context_ratio: ``(min, max)`` context share of ``F`` (T-JEPA CLI default (0.2, 0.4); the
            launch script uses (0.136, 0.368)).
        num_targets: ``T``, target subsets per row (T-JEPA ``num_preds`` = 4).
        target_ratio: ``(min, max)`` target share of ``F`` (launch script: (0.156, 0.622)).
        allow_overlap: Let targets include context features (default ``False``).
        per_sample_size: Draw sizes per row/target instead of per batch (default ``False``).
        generator: Optional generator on ``device``.
        device: Output device (default: the generator's device, else the default device).

    Returns:
        A :class:`FeatureSubsetMask` of boolean masks.

    Shapes:
        context: ``(B, F)``; targets: ``(B, T, F)``.

    Raises:
        ValueError: On non-positive sizes, ratios outside ``(0, 1]``, ``F`` too small for a
            disjoint context and target (``lo_c + lo_t > F``) or a generator on another device.
    """
    check_count("batch_size", batch_size)
    check_count("num_features", num_features)
    check_count("num_targets", num_targets)
    lo_c, hi_c = _bounds("context_ratio", context_ratio, num_features)
    lo_t, hi_t = _bounds("target_ratio", target_ratio, num_features)
    if not allow_overlap:
        if lo_c + lo_t > num_features:
            raise ValueError(
                f"num_features={num_features} is too small for a disjoint context of at least "
                f"{lo_c} and a target of at least {lo_t} feature(s); lower context_ratio[0] / "
                "target_ratio[0] or pass allow_overlap=True."
            )
        hi_c = min(hi_c, num_features - lo_t)
    dev = resolve_device(device, generator)

    rows = batch_size if per_sample_size else 1
    n_ctx = torch.randint(lo_c, hi_c + 1, (rows, 1), generator=generator, device=dev)
    n_tgt = torch.randint(
        lo_t,
        hi_t + 1,
        (rows, num_targets if per_sample_size else 1),
        generator=generator,
        device=dev,
    )
    if not allow_overlap:
        n_tgt = torch.minimum(n_tgt, num_features - n_ctx)

    noise = torch.rand(batch_size, num_features, generator=generator, device=dev)
    context = _ranks(noise) < n_ctx
    noise_t = torch.rand(batch_size, num_targets, num_features, generator=generator, device=dev)
    if not allow_overlap:
        noise_t = noise_t + context.unsqueeze(1)  # context features rank after all others
    targets = _ranks(noise_t) < n_tgt.unsqueeze(-1)
    return FeatureSubsetMask(context=context, targets=targets)

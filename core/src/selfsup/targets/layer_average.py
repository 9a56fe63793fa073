"""Contextualised targets: the average of a teacher's top layers (data2vec, data2vec 2.0)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["instance_norm_tokens", "layer_average_targets"]


def instance_norm_tokens(
    x: Tensor, padding_mask: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Normalise every channel of every sample over its real tokens (``F.instance_norm`` over
    the token axis, padding left out of the statistics and set to 0).

    .. math::

        \\hat x_{b,t,c} = \\frac{x_{b,t,c} - \\mu_{b,c}}{\\sqrt{\\sigma^2_{b,c} + \\epsilon}},
        \\qquad \\mu_{b,c}, \\sigma^2_{b,c} \\text{ over the real tokens } t \\text{ of } b

    (biased variance, as ``F.instance_norm``).

    Shapes:
        x ``(B, L, C)``, padding_mask ``(B, L)`` bool (True = padding) or None -> ``(B, L, C)``.

    Examples:
        >>> y = instance_norm_tokens(torch.randn(2, 6, 4))
        >>> bool(y.mean(dim=1).abs().max() < 1e-6)
        True
    """
    if padding_mask is None:
        return F.instance_norm(x.transpose(1, 2), eps=eps).transpose(1, 2)
    real = (~padding_mask).unsqueeze(-1).to(x.dtype)
    count = real.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean = (x * real).sum(dim=1, keepdim=True) / count
    var = (((x - mean) * real) ** 2).sum(dim=1, keepdim=True) / count
    return (x - mean) * torch.rsqrt(var + eps) * real


def layer_average_targets(
    layers: Sequence[Tensor],
    top_k: int | None = None,
    *,
    padding_mask: Tensor | None = None,
    instance_norm: bool = True,
    layer_norm: bool = False,
) -> Tensor:
    """data2vec's regression targets: the mean of the last ``top_k`` layer outputs of the
    teacher, each instance-normalised over the tokens first.

    .. math::

        y_t = \\mathrm{LN}?\\Big(\\frac{1}{K} \\sum_{l = L - K + 1}^{L}
            \\mathrm{IN}(a^{(l)})_t\\Big)

    (Baevski et al., data2vec arXiv 2202.03555 Sec. 3.3, data2vec 2.0 arXiv 2212.07525:
    ``instance_norm_target_layer`` and ``layer_norm_targets`` of the reference). Normalising each
    layer before averaging keeps a layer with large activations from dominating; the optional
    final parameter-free LayerNorm normalises each target token. Computed in float32 (or
    float64 for float64 layers), without gradient.

    Args:
        layers: The teacher's block outputs, first block first, each ``(B, L, C)``.
        top_k: How many of the last layers to average (default None: all).
        padding_mask: ``(B, L)`` bool, True on padding (left out of the statistics, 0 in the
            targets).
        instance_norm: Instance-normalise each layer over the tokens (default True).
        layer_norm: Parameter-free LayerNorm of each averaged target token (default False).

    Shapes:
        layers: ``K' >= top_k`` tensors ``(B, L, C)`` -> ``(B, L, C)``.

    Raises:
        ValueError: no layers, ``top_k`` outside ``[1, len(layers)]``, or layers of different
            shapes.

    Examples:
        >>> layers = [torch.randn(2, 5, 8) for _ in range(4)]
        >>> layer_average_targets(layers, top_k=3).shape
        torch.Size([2, 5, 8])
    """
    if len(layers) == 0:
        raise ValueError("layer_average_targets needs at least one layer output.")
    k = len(layers) if top_k is None else int(top_k)
    if not 1 <= k <= len(layers):
        raise ValueError(f"top_k must be in [1, {len(layers)}] (the layers given), got {top_k}.")
    shape = layers[0].shape
    if any(layer.shape != shape for layer in layers) or len(shape) != 3:
        raise ValueError(
            "layers must all have one (B, L, C) shape, got "
            f"{[tuple(layer.shape) for layer in layers]}."
        )
    with torch.no_grad():
        total: Tensor | None = None
        for layer in layers[-k:]:
            x = layer.detach()
            x = x.double() if x.dtype == torch.float64 else x.float()
            if instance_norm:
                x = instance_norm_tokens(x, padding_mask)
            total = x if total is None else total + x
        assert total is not None
        target = total / k
        if layer_norm:
            target = F.layer_norm(target, target.shape[-1:])
        if padding_mask is not None:
            target = target.masked_fill(padding_mask.unsqueeze(-1), 0.0)
    return target

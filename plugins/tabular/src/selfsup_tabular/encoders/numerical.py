"""Periodic embeddings of numerical features (PLR, Gorishniy et al., NeurIPS 2022)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["NUMERICAL_EMBEDDINGS", "PeriodicEmbedding"]

#: How :class:`~selfsup_tabular.encoders.FeatureTokenizer` and
#: :class:`~selfsup_tabular.encoders.TabularInput` turn a number into a vector.
NUMERICAL_EMBEDDINGS = ("linear", "periodic")


class PeriodicEmbedding(nn.Module):
    """Per-feature periodic embedding + linear + ReLU ("PLR", arXiv 2203.05556, section 3.3).

    .. math::

        v_j = [\\sin(2\\pi c_j x_j), \\cos(2\\pi c_j x_j)] \\in \\mathbb{R}^{2k}, \\qquad
        e_j = \\mathrm{ReLU}(W_j v_j + b_j) \\in \\mathbb{R}^{d}

    with learned frequencies ``c_j`` (``k`` per feature, initialised from
    ``N(0, frequency_scale^2)``) and a separate linear map ``W_j, b_j`` per feature. Numbers are
    expected on a standardised scale (e.g. :class:`~selfsup_tabular.data.TabularPreprocessor`'s
    quantile-normal scaling); ``frequency_scale`` (``sigma`` in the paper) sets how fine the
    initial periods are relative to that scale: small values behave almost linearly, large
    values resolve fine differences (thresholds such as Adult's ``capital-gain`` spikes).

    Args:
        num_features: Numerical features ``n``.
        d_embedding: Output width ``d`` per feature.
        frequencies: Frequencies ``k`` per feature (default 16).
        frequency_scale: Standard deviation ``sigma`` of the initial frequencies (default 1.0).
        activation: Apply the ReLU (default True, "PLR"; False is "PL").

    Shapes:
        ``(B, n)`` -> ``(B, n, d)``.

    Raises:
        ValueError: a non-positive size or ``frequency_scale``.

    Examples:
        >>> PeriodicEmbedding(3, 8)(torch.zeros(5, 3)).shape
        torch.Size([5, 3, 8])
    """

    def __init__(
        self,
        num_features: int,
        d_embedding: int,
        frequencies: int = 16,
        frequency_scale: float = 1.0,
        activation: bool = True,
    ) -> None:
        super().__init__()
        if num_features < 1 or d_embedding < 1 or frequencies < 1:
            raise ValueError(
                "PeriodicEmbedding needs num_features, d_embedding and frequencies >= 1, got "
                f"{num_features}, {d_embedding}, {frequencies}."
            )
        if not (math.isfinite(frequency_scale) and frequency_scale > 0):
            raise ValueError(f"frequency_scale must be finite and > 0, got {frequency_scale}.")
        self.frequencies = nn.Parameter(torch.randn(num_features, frequencies) * frequency_scale)
        bound = 1 / math.sqrt(2 * frequencies)
        self.weight = nn.Parameter(
            torch.empty(num_features, 2 * frequencies, d_embedding).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.empty(num_features, d_embedding).uniform_(-bound, bound))
        self.activation = bool(activation)

    def forward(self, x: Tensor) -> Tensor:
        angle = 2 * math.pi * self.frequencies * x.unsqueeze(-1)  # (B, n, k)
        v = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)  # (B, n, 2k)
        out = torch.einsum("bnk,nkd->bnd", v, self.weight) + self.bias
        return torch.relu(out) if self.activation else out

"""SCARF (Bahri et al., arXiv 2106.15147): contrastive learning with random feature corruption."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from selfsup.checks import check_positive, check_probability
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import info_nce
from selfsup_tabular.augment.corruption import scarf_corrupt
from selfsup_tabular.encoders.mlp import TabularMLP

__all__ = ["SCARF"]


class SCARF(Method):
    """SCARF: contrast each row with a corrupted copy of itself.

    The corrupted view ``\\tilde x`` replaces ``int(c F)`` random features of each row by values
    of the same feature from other rows (:func:`~selfsup_tabular.augment.scarf_corrupt`). With
    encoder ``f`` and pre-training head ``g`` (ReLU MLPs),

    .. math::

        z_i = g(f(x_i)), \\quad \\tilde z_i = g(f(\\tilde x_i)), \\quad
        L = -\\frac{1}{B} \\sum_i \\log \\frac{\\exp(\\cos(z_i, \\tilde z_i)/\\tau)}
            {\\sum_k \\exp(\\cos(z_i, \\tilde z_k)/\\tau)}

    computed by :func:`selfsup.losses.info_nce` (anchors as queries, corrupted rows as keys).
    Evaluation features (:meth:`embed`) are ``f(x)``. Randomness comes from torch's global RNG.

    Args:
        num_features: Number of (numeric, pre-processed) features ``F`` (default 16).
        hidden_dim: Width of encoder and head (default 256, the paper's value).
        encoder_layers: Linear layers of the encoder ``f`` (default 4).
        head_layers: Linear layers of the head ``g`` (default 2).
        corruption_rate: Fraction ``c`` of features corrupted per row (default 0.6).
        temperature: :math:`\\tau` (default 1.0, the paper's value).
        chunk_size: Stream the ``B x B`` similarity matrix in column blocks (default None).

    Shapes:
        batch: features ``(B, F)`` floating point, finite, ``B >= 2``, or an ``(x, y)`` pair
            (``y`` ignored). Encode categorical features numerically beforehand.
        embed: the same -> ``(B, hidden_dim)``.

    Raises:
        MalformedBatchError: the batch is not a finite floating ``(B, num_features)`` tensor with
            ``B >= 2`` (or such a pair).
    """

    modality = "tabular"

    def __init__(
        self,
        num_features: int = 16,
        hidden_dim: int = 256,
        encoder_layers: int = 4,
        head_layers: int = 2,
        corruption_rate: float = 0.6,
        temperature: float = 1.0,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        check_probability("corruption_rate", corruption_rate, inclusive_high=True)
        check_positive("temperature", temperature)
        self.num_features = num_features
        self.corruption_rate = corruption_rate
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.encoder = TabularMLP(num_features, hidden_dim, num_layers=encoder_layers)
        self.head = TabularMLP(hidden_dim, hidden_dim, num_layers=head_layers)

    def features(self, batch: Any) -> Tensor:
        """The ``(B, F)`` feature rows of a batch, validated."""
        name = type(self).__name__
        x = batch
        if isinstance(batch, list | tuple):
            if len(batch) != 2:
                raise MalformedBatchError(
                    f"{name} expects features (B, F) or an (x, y) pair, got a "
                    f"{type(batch).__name__} of length {len(batch)}."
                )
            x = batch[0]
        if not isinstance(x, Tensor):
            raise MalformedBatchError(
                f"{name} expects features as a tensor (B, {self.num_features}), got "
                f"{type(x).__name__}."
            )
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise MalformedBatchError(
                f"{name} expects features of shape (B, {self.num_features}), got "
                f"{tuple(x.shape)}; set num_features to the column count."
            )
        if not x.is_floating_point():
            raise MalformedBatchError(
                f"{name} expects floating-point features, got {x.dtype}; use x.float() "
                "(encode categorical columns numerically first)."
            )
        if not bool(torch.isfinite(x).all()):
            raise MalformedBatchError(
                f"{name} got {int((~torch.isfinite(x)).sum())} NaN/inf feature value(s); impute "
                "missing values before training."
            )
        return x

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self.features(batch)
        if x.shape[0] < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 rows per batch (corruption values and "
                f"negatives come from other rows), got {x.shape[0]}; use drop_last=True."
            )
        corrupted = scarf_corrupt(x, self.corruption_rate)
        z, z_tilde = self.head(self.encoder(torch.cat([x, corrupted]))).chunk(2)
        loss = info_nce(z, z_tilde, self.temperature, chunk_size=self.chunk_size)
        return {"loss": loss}

    def representations(self, batch: Any) -> Tensor:
        """Encoder features of the uncorrupted training rows, detached."""
        return self.encoder(self.features(batch)).detach()

    def embed(self, batch: Any) -> Tensor:
        """Encoder features ``f(x)`` ``(B, hidden_dim)``."""
        return self.encoder(self.features(batch))

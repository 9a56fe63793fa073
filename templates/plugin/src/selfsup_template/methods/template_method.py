"""A working starting point: SimCLR-style contrast of two noisy views of feature vectors."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from selfsup.checks import check_positive
from selfsup.encoders import SimCLRProjectionHead
from selfsup.experiment.method import Method
from selfsup.losses import nt_xent
from selfsup_template.augment import gaussian_noise_views
from selfsup_template.batch import parse_template_batch
from selfsup_template.encoders.template_encoder import TemplateEncoder
from selfsup_template.plugin import MODALITY

__all__ = ["TemplateMethod"]


class TemplateMethod(Method):
    """Contrastive MLP: two Gaussian-noise views of each vector, NT-Xent on their projections.

    .. math::

        \\tilde x^{(k)} = x + \\sigma \\epsilon^{(k)}, \\quad
        z^{(k)} = g(f(\\tilde x^{(k)})), \\quad
        L = \\mathrm{NT\\text{-}Xent}_\\tau(z^{(1)}, z^{(2)})

    (:func:`selfsup.losses.nt_xent`, SimCLR, arXiv 2002.05709; ``g`` is
    :class:`selfsup.encoders.SimCLRProjectionHead` without BatchNorm, ``Linear-ReLU-Linear``.)
    Replace the noise by your domain's augmentations and the MLP ``f`` by your encoder.
    Evaluation features are ``f(x)``.

    Args:
        num_features: Input size ``F`` (default 16).
        hidden_dim: Hidden width of encoder and head (default 64).
        embed_dim: Encoder output size (default 32).
        projection_dim: Head output size, the loss space (default 16).
        noise_std: Standard deviation :math:`\\sigma` of the view noise (default 0.1).
        temperature: NT-Xent temperature (default 0.5).

    Shapes:
        batch: ``(B, F)`` floating point with ``B >= 2``, or an ``(x, y)`` pair (``y`` ignored).
        embed: the same -> ``(B, embed_dim)``.

    Raises:
        MalformedBatchError: the batch is not a floating ``(B, num_features)`` tensor (or pair).
    """

    modality = MODALITY

    def __init__(
        self,
        num_features: int = 16,
        hidden_dim: int = 64,
        embed_dim: int = 32,
        projection_dim: int = 16,
        noise_std: float = 0.1,
        temperature: float = 0.5,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}.")
        self.num_features = num_features
        self.noise_std = noise_std
        self.temperature = temperature
        self.encoder = TemplateEncoder(num_features, hidden_dim, embed_dim)
        # the head ``g`` comes from core's zoo (selfsup.encoders): pick the preset of the method
        # you follow rather than writing the MLP again
        self.projector = SimCLRProjectionHead(
            embed_dim, hidden_dim, projection_dim, batch_norm=False
        )

    def inputs(self, batch: Any, min_rows: int = 1) -> Tensor:
        """The ``(B, F)`` vectors of a batch, validated (:mod:`selfsup_template.batch`)."""
        return parse_template_batch(batch, self.num_features, type(self).__name__, min_rows)

    def views(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Two noisy copies of ``x`` (torch's global RNG; :mod:`selfsup_template.augment`)."""
        return gaussian_noise_views(x, self.noise_std)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self.inputs(batch, min_rows=2)  # in-batch negatives need two rows
        v1, v2 = self.views(x)
        z1, z2 = self.projector(self.encoder(torch.cat([v1, v2]))).chunk(2)
        return {"loss": nt_xent(z1, z2, self.temperature)}

    def representations(self, batch: Any) -> Tensor:
        """Encoder features of the clean training batch, detached (for RankMe monitors)."""
        return self.encoder(self.inputs(batch)).detach()

    def embed(self, batch: Any) -> Tensor:
        """Encoder features ``f(x)`` ``(B, embed_dim)``."""
        return self.encoder(self.inputs(batch))

    def export_encoder(self) -> TemplateEncoder:
        """The encoder ``f`` (``selfsup export``); the projection head is left behind."""
        return self.encoder

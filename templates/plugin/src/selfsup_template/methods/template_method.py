"""A working starting point: SimCLR-style contrast of two noisy views of feature vectors."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checks import check_positive
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import nt_xent
from selfsup_template.encoders.template_encoder import TemplateEncoder
from selfsup_template.plugin import MODALITY

__all__ = ["TemplateMethod"]


def _mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
    )


class TemplateMethod(Method):
    """Contrastive MLP: two Gaussian-noise views of each vector, NT-Xent on their projections.

    .. math::

        \\tilde x^{(k)} = x + \\sigma \\epsilon^{(k)}, \\quad
        z^{(k)} = g(f(\\tilde x^{(k)})), \\quad
        L = \\mathrm{NT\\text{-}Xent}_\\tau(z^{(1)}, z^{(2)})

    (:func:`selfsup.losses.nt_xent`, SimCLR, arXiv 2002.05709.) Replace the noise by your
    domain's augmentations and the MLPs by your encoder. Evaluation features are ``f(x)``.

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
        self.projector = _mlp(embed_dim, hidden_dim, projection_dim)

    def inputs(self, batch: Any) -> Tensor:
        """The ``(B, F)`` vectors of a batch, validated (say what is wrong and how to fix it)."""
        name = type(self).__name__
        x = batch[0] if isinstance(batch, list | tuple) and len(batch) == 2 else batch
        if not isinstance(x, Tensor):
            raise MalformedBatchError(
                f"{name} expects a tensor (B, {self.num_features}) or an (x, y) pair, got "
                f"{type(batch).__name__}."
            )
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise MalformedBatchError(
                f"{name} expects inputs of shape (B, {self.num_features}), got "
                f"{tuple(x.shape)}; set num_features to the feature count."
            )
        if not x.is_floating_point():
            raise MalformedBatchError(f"{name} expects floating-point inputs, got {x.dtype}.")
        return x

    def views(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Two noisy copies of ``x`` (torch's global RNG)."""
        return x + self.noise_std * torch.randn_like(x), x + self.noise_std * torch.randn_like(x)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self.inputs(batch)
        if x.shape[0] < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 samples per batch (in-batch negatives), "
                f"got {x.shape[0]}; use drop_last=True in the DataLoader."
            )
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

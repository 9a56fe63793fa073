"""VICReg (Bardes, Ponce and LeCun, arXiv 2105.04906) on images."""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import Tensor, nn

from selfsup.encoders import VICRegProjectionHead
from selfsup.losses import vicreg
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod

__all__ = ["VICReg"]


class VICReg(JointEmbeddingMethod):
    """VICReg: invariance + variance hinge + covariance penalty on an expander's outputs.

    .. math::

        L = \\lambda\\, s(Z, Z') + \\mu \\frac{v(Z) + v(Z')}{2} + \\nu (c(Z) + c(Z'))

    (:func:`selfsup.losses.vicreg`, the reference's conventions) on a 3-layer expander
    ``Linear-BN-ReLU-Linear-BN-ReLU-Linear`` (:class:`selfsup.encoders.VICRegProjectionHead`).

    Args:
        encoder: Encoder with ``out_dim`` (default None: CIFAR-stem ResNet-18).
        in_channels: Image channels (default 3).
        hidden_dim: Expander hidden size (default 2048; paper 8192).
        projection_dim: Expander output size (default 2048).
        sim_coeff: ``lambda`` (default 25).
        std_coeff: ``mu`` (default 25).
        cov_coeff: ``nu`` (default 1).
        views: View preset (default ``"byol-cifar"``; VICReg uses BYOL's augmentations).
        matryoshka_dims: Nested prefix sizes for the Matryoshka loss (default None: off).

    Shapes:
        batch: images ``(B, C, H, W)`` in ``[0, 1]``, ``B >= 2``, an ``(images, labels)`` pair or
            ``{"views": [v1, v2, ...]}``.
        embed: ``(B, C, H, W)`` -> ``(B, encoder.out_dim)``.

    Raises:
        MalformedBatchError: malformed batches.
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        hidden_dim: int = 2048,
        projection_dim: int = 2048,
        sim_coeff: float = 25.0,
        std_coeff: float = 25.0,
        cov_coeff: float = 1.0,
        views: str = "byol-cifar",
        matryoshka_dims: list[int] | None = None,
    ) -> None:
        super().__init__()
        self._setup(encoder, in_channels, views, matryoshka_dims, projection_dim)
        self.projector = VICRegProjectionHead(self.feature_dim, hidden_dim, projection_dim)
        self.coeffs = (float(sim_coeff), float(std_coeff), float(cov_coeff))

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        zs = self.encode(self.views(batch), self.projector)
        loss = self.pair_mean(
            zs,
            partial(
                vicreg, sim_coeff=self.coeffs[0], std_coeff=self.coeffs[1], cov_coeff=self.coeffs[2]
            ),
        )
        return {"loss": loss}

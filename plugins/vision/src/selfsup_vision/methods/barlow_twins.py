"""Barlow Twins (Zbontar et al., arXiv 2103.03230) with the Mixed Barlow Twins regulariser."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.encoders import BarlowTwinsProjectionHead
from selfsup.losses import barlow_twins, mixed_barlow_regularizer
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod

__all__ = ["BarlowTwins"]


class BarlowTwins(JointEmbeddingMethod):
    """Barlow Twins: the cross-correlation of two views' projections is pushed to the identity.

    .. math::

        L = \\sum_i (1 - C_{ii})^2 + \\lambda \\sum_{i \\ne j} C_{ij}^2 \\;
            [+\\ L_{mix}]

    (:func:`selfsup.losses.barlow_twins`, global-batch statistics) on a projector of
    ``projector_layers`` Linear layers (default 3: ``Linear-BN-ReLU-Linear-BN-ReLU-Linear``, the
    paper's; 2: ``Linear-BN-ReLU-Linear``, ``wgcban/mix-bt``'s CIFAR projector;
    :class:`selfsup.encoders.BarlowTwinsProjectionHead`).
    ``mixup=True`` adds the Mixed Barlow Twins regulariser (Bandara et al., arXiv 2312.02151,
    :func:`selfsup.losses.mixed_barlow_regularizer`): the two global views are mixed,
    ``x_mix = alpha x_1 + (1 - alpha) x_2[perm]`` with ``alpha ~ Beta(mix_beta, mix_beta)`` and a
    random permutation, and the cross-correlation of ``z_mix`` with each view must equal the same
    mixture of the views' cross-correlations (one extra forward pass of ``B`` images).

    Args:
        encoder: Encoder with ``out_dim`` (default None: CIFAR-stem ResNet-18).
        in_channels: Image channels (default 3).
        hidden_dim: Projector hidden size (default 2048; paper 8192 on ImageNet).
        projection_dim: Projector output size ``D`` (default 2048).
        projector_layers: Number of Linear layers of the projector, >= 2 (default 3).
        lambda_offdiag: ``lambda`` (default 0.0051, the paper's).
        loss_scale: Multiplier of the whole loss (default 1; solo-learn uses 0.1 on CIFAR).
        mixup: Add the Mixed Barlow Twins regulariser (default False).
        mix_scale: The regulariser's scale ``s`` (default 4.0, ``wgcban/mix-bt``'s
            ``mixup_loss_scale`` for CIFAR-10/100 and TinyImageNet; 2.0 for STL-10).
        mix_beta: Beta-distribution parameter of ``alpha`` (default 1.0: uniform, reference).
        views: View preset (default ``"byol-cifar"``: Barlow Twins uses BYOL's augmentations;
            ``wgcban/mix-bt``'s CIFAR pipeline is ``"simclr-cifar"``).
        matryoshka_dims: Nested prefix sizes for the Matryoshka loss (default None: off).

    Shapes:
        batch: images ``(B, C, H, W)`` in ``[0, 1]``, ``B >= 2``, an ``(images, labels)`` pair or
            ``{"views": [v1, v2, ...]}``.
        embed: ``(B, C, H, W)`` -> ``(B, encoder.out_dim)``.

    Raises:
        MalformedBatchError: malformed batches.
        ValueError: bad hyper-parameters.
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        hidden_dim: int = 2048,
        projection_dim: int = 2048,
        projector_layers: int = 3,
        lambda_offdiag: float = 0.0051,
        loss_scale: float = 1.0,
        mixup: bool = False,
        mix_scale: float = 4.0,
        mix_beta: float = 1.0,
        views: str = "byol-cifar",
        matryoshka_dims: list[int] | None = None,
    ) -> None:
        super().__init__()
        if lambda_offdiag < 0 or loss_scale <= 0 or mix_scale <= 0 or mix_beta <= 0:
            raise ValueError(
                "need lambda_offdiag >= 0 and loss_scale, mix_scale, mix_beta > 0, got "
                f"{lambda_offdiag}, {loss_scale}, {mix_scale}, {mix_beta}."
            )
        if projector_layers < 2:
            raise ValueError(f"projector_layers must be >= 2, got {projector_layers}.")
        self._setup(encoder, in_channels, views, matryoshka_dims, projection_dim)
        self.projector = BarlowTwinsProjectionHead(
            self.feature_dim, hidden_dim, projection_dim, num_layers=projector_layers
        )
        self.lambda_offdiag = lambda_offdiag
        self.loss_scale = loss_scale
        self.mixup = mixup
        self.mix_scale = mix_scale
        self.mix_beta = mix_beta

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        views = self.views(batch)
        zs = self.encode(views, self.projector)
        fn = partial(barlow_twins, lambda_offdiag=self.lambda_offdiag)
        loss = self.pair_mean(zs, fn)
        out: dict[str, Tensor] = {"barlow": loss.detach()}
        if self.mixup:
            b = zs[0].shape[0]
            beta = torch.tensor(self.mix_beta)
            alpha = float(torch.distributions.Beta(beta, beta).sample())
            perm = torch.randperm(b, device=views[0].device)
            mixed = alpha * views[0] + (1.0 - alpha) * views[1][perm]
            z_mix = self.projector(self.encoder(mixed))
            reg = partial(
                mixed_barlow_regularizer,
                lambda_offdiag=self.lambda_offdiag,
                scale=self.mix_scale,
            )
            mix = self.embedding_loss(
                lambda z1, z2, zm: reg(z1, z2, zm, perm, alpha), zs[0], zs[1], z_mix
            )
            out["mix"] = mix.detach()
            loss = loss + mix
        out["loss"] = self.loss_scale * loss
        return out

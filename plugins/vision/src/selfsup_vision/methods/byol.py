"""BYOL (Grill et al., arXiv 2006.07733) with an optional DirectPred predictor."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from selfsup.encoders import BYOLPredictionHead, BYOLProjectionHead
from selfsup.losses import negative_cosine
from selfsup.teachers import EMATeacher
from selfsup_vision.methods.directpred import DirectPredictor
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod

__all__ = ["BYOL"]


class BYOL(JointEmbeddingMethod):
    """BYOL: an online network predicts an EMA target network's projection of the other view.

    .. math::

        L = \\sum_{(a, b)} \\left(2 - 2 \\cos\\big(q(g(f(v_a))),\\
            \\mathrm{sg}(\\bar g(\\bar f(v_b)))\\big)\\right)

    over ``(a, b) in {(1, 2), (2, 1)}`` (:func:`selfsup.losses.negative_cosine`, target detached
    inside); with multi-crop views every local crop also predicts both global targets, and the
    sum is rescaled to two terms. ``f`` encoder, ``g`` projector, ``q`` predictor (MLPs
    ``Linear-BN-ReLU-Linear``: :class:`selfsup.encoders.BYOLProjectionHead` and
    :class:`~selfsup.encoders.BYOLPredictionHead`); ``\\bar f, \\bar g`` are
    :class:`selfsup.teachers.EMATeacher` copies updated after each optimiser step with momentum
    ``tau`` (default cosine 0.99 -> 1, solo-learn's CIFAR value; the paper uses 0.996 on
    ImageNet).

    ``predictor="directpred"`` replaces ``q`` by :class:`DirectPredictor` (Tian et al., arXiv
    2102.06810): a linear map set from the eigen-decomposition of the running correlation of
    the online projections (every ``directpred_freq`` steps; in between it is trained like the
    reference's predictor unless ``directpred_trainable=False``).

    Args:
        encoder: Encoder with ``out_dim`` (default None: CIFAR-stem ResNet-18).
        in_channels: Image channels (default 3).
        hidden_dim: Projector / MLP predictor hidden size (default 4096).
        projection_dim: Projection size (default 256).
        predictor: ``"mlp"`` (default) or ``"directpred"``.
        directpred_rho: DirectPred correlation EMA ``rho`` (default 0.3, luckmatters).
        directpred_eps: DirectPred eigenvalue boost ``eps`` (default 0.01, luckmatters).
        directpred_freq: Recompute the DirectPred weight every this many steps (default 1).
        directpred_trainable: Also train the DirectPred weight by gradient between two
            refreshes (default True, as luckmatters; only matters for ``freq > 1``).
        momentum: EMA schedule (default ``"cosine:0.99:1.0"``).
        views: View preset of :data:`selfsup_vision.augment.PRESETS` (default
            ``"byol-cifar"``: asymmetric solarisation, no blur).
        matryoshka_dims: Nested prefix sizes for the Matryoshka loss (default None: off).

    Shapes:
        batch: images ``(B, C, H, W)`` in ``[0, 1]``, ``B >= 2``, an ``(images, labels)`` pair or
            ``{"views": [v1, v2, ...]}``.
        embed: ``(B, C, H, W)`` -> ``(B, encoder.out_dim)`` (online encoder).

    Raises:
        MalformedBatchError: malformed batches (see :func:`selfsup_vision.batch.
            parse_image_batch`).
        ValueError: unknown predictor or view preset, bad momentum.
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        hidden_dim: int = 4096,
        projection_dim: int = 256,
        predictor: Literal["mlp", "directpred"] = "mlp",
        directpred_rho: float = 0.3,
        directpred_eps: float = 0.01,
        directpred_freq: int = 1,
        directpred_trainable: bool = True,
        momentum: str | float = "cosine:0.99:1.0",
        views: str = "byol-cifar",
        matryoshka_dims: list[int] | None = None,
    ) -> None:
        super().__init__()
        self._setup(encoder, in_channels, views, matryoshka_dims, projection_dim)
        self.projector = BYOLProjectionHead(self.feature_dim, hidden_dim, projection_dim)
        if predictor == "mlp":
            self.predictor: nn.Module = BYOLPredictionHead(
                projection_dim, hidden_dim, projection_dim
            )
        elif predictor == "directpred":
            self.predictor = DirectPredictor(
                projection_dim,
                directpred_rho,
                directpred_eps,
                directpred_freq,
                directpred_trainable,
            )
        else:
            raise ValueError(f"predictor must be 'mlp' or 'directpred', got {predictor!r}.")
        self.predictor_kind = predictor
        self.target_encoder = EMATeacher(self.encoder, momentum)
        self.target_projector = EMATeacher(self.projector, momentum)

    def _target(self, x: Tensor) -> Tensor:
        return self.target_projector(self.target_encoder(x))

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        views = self.views(batch)
        zs = self.encode(views, self.projector)
        if isinstance(self.predictor, DirectPredictor) and self.training:
            self.predictor.observe(torch.cat(zs))
        # One predictor pass over all views: BatchNorm statistics as in the encoder pass.
        ps = list(self.predictor(torch.cat(zs)).chunk(len(zs)))
        targets = self._target(torch.cat(views[:2])).chunk(2)
        terms = [(0, 1), (1, 0)] + [(v, g) for v in range(2, len(views)) for g in (0, 1)]
        total = sum(self.embedding_loss(negative_cosine, ps[a], targets[b]) for a, b in terms)
        loss = total * (2.0 / len(terms))
        cos = F.cosine_similarity(ps[0].detach(), targets[1], dim=1).mean()
        return {"loss": loss, "prediction_cosine": cos}  # type: ignore[dict-item]

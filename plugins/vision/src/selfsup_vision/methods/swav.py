"""SwAV (Caron et al., arXiv 2006.09882): swapped prediction of online cluster codes."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.encoders import ProjectionHead, mlp_blocks
from selfsup.targets import sinkhorn_knopp
from selfsup.teachers import TrainingProgress
from selfsup_vision.augment.presets import device_multicrop
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod, frozen_prototypes_reason

__all__ = ["SwAV"]


class SwAV(JointEmbeddingMethod):
    """SwAV: each global crop's equipartitioned cluster codes are predicted from every other crop.

    .. math::

        z_v = \\frac{g(f(x_v))}{\\lVert g(f(x_v)) \\rVert}, \\quad s_v = C^\\top z_v, \\quad
        q_t = \\mathrm{SinkhornKnopp}(s_t), \\quad
        L = \\frac{1}{|\\mathcal{P}|} \\sum_{(t, v), v \\ne t}
            -\\sum_k q_{t,k} \\log \\mathrm{softmax}(s_v / \\tau)_k

    over the two global crops ``t`` and every other crop ``v`` (globals and locals): the
    reference's ``swav_loss``. ``C`` are ``num_prototypes`` unit-norm prototypes (re-normalised
    in place before every step, as the reference; frozen for the first
    ``freeze_prototypes_steps`` steps, read from a :class:`~selfsup.teachers.TrainingProgress`).
    The codes come from core's :func:`selfsup.targets.sinkhorn_knopp` (epsilon 0.05, 3 rounds;
    under DDP normalised over the global batch) on detached scores. The head is SwAV's
    ``Linear-BN-ReLU-Linear``. Crops are drawn on the device
    (:func:`~selfsup_vision.augment.device_multicrop`) or come as ``{"views": [...]}``. The
    reference's queue of past scores (for small batches) is not used.

    Args:
        encoder: Encoder with ``out_dim`` (default None: CIFAR-stem ResNet-18).
        in_channels: Image channels (default 3).
        hidden_dim: Head hidden width (default 2048).
        projection_dim: Embedding size (default 128).
        num_prototypes: Prototypes (default 3000, the paper's ImageNet value).
        temperature: :math:`\\tau` (default 0.1).
        epsilon: Sinkhorn entropy regularisation (default 0.05).
        sinkhorn_iterations: Sinkhorn rounds (default 3).
        freeze_prototypes_steps: Steps with frozen prototypes (default 0; the reference freezes
            them for the first epoch).
        num_local_crops: Local crops per image (default 4).
        local_crop_size: Side of a local crop (default 16).
        global_crop_scale, local_crop_scale: Crop areas (default ``(0.14, 1.0)``,
            ``(0.05, 0.14)``, the paper's).
        views: View preset for the colour distribution (default ``"simclr-cifar"``).

    Shapes:
        batch: images ``(B, C, H, W)`` in ``[0, 1]``, an ``(images, labels)`` pair, or
            ``{"views": [g1, g2, l1, ...]}``.
        embed: ``(B, C, H, W)`` -> ``(B, encoder.out_dim)``.

    Examples:
        >>> from selfsup_vision.encoders import SmallConvNet
        >>> method = SwAV(SmallConvNet(width=8, out_dim=32), hidden_dim=64, projection_dim=16,
        ...               num_prototypes=20, num_local_crops=2)
        >>> sorted(method.training_losses(torch.rand(8, 3, 32, 32)))
        ['code_entropy', 'loss']
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        hidden_dim: int = 2048,
        projection_dim: int = 128,
        num_prototypes: int = 3000,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        freeze_prototypes_steps: int = 0,
        num_local_crops: int = 4,
        local_crop_size: int = 16,
        global_crop_scale: tuple[float, float] = (0.14, 1.0),
        local_crop_scale: tuple[float, float] = (0.05, 0.14),
        views: str = "simclr-cifar",
    ) -> None:
        super().__init__()
        if temperature <= 0 or epsilon <= 0 or num_prototypes < 2 or freeze_prototypes_steps < 0:
            raise ValueError(
                "need temperature > 0, epsilon > 0, num_prototypes >= 2 and "
                f"freeze_prototypes_steps >= 0, got {temperature}, {epsilon}, {num_prototypes}, "
                f"{freeze_prototypes_steps}."
            )
        self._setup(encoder, in_channels, None, None, projection_dim)
        self.multicrop = device_multicrop(
            views,
            local_crop_size,
            num_local_crops,
            tuple(global_crop_scale),
            tuple(local_crop_scale),
        )
        self.projector = ProjectionHead(mlp_blocks([self.feature_dim, hidden_dim, projection_dim]))
        self.prototypes = nn.Linear(projection_dim, num_prototypes, bias=False)
        self.temperature = float(temperature)
        self.sinkhorn = (float(epsilon), int(sinkhorn_iterations))
        self.freeze_prototypes_steps = int(freeze_prototypes_steps)
        self.progress = TrainingProgress()

    def unused_parameters_reason(self) -> str | None:
        return frozen_prototypes_reason(self.freeze_prototypes_steps)

    def draw_views(self, images: Tensor) -> list[Tensor]:
        """Two global crops, then the local crops, drawn on the device."""
        return self.multicrop(images)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        views = self.views(batch)
        if self.training:
            with torch.no_grad():  # unit prototypes, set in place as the reference does
                self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        frozen = self.training and self.progress.step < self.freeze_prototypes_steps
        weight = self.prototypes.weight.detach() if frozen else self.prototypes.weight

        def scores_of(h: Tensor) -> Tensor:
            return F.linear(F.normalize(self.projector(h), dim=1), weight)

        scores = self.encode(views, scores_of)
        epsilon, iterations = self.sinkhorn
        log_probs = [F.log_softmax(s / self.temperature, dim=1) for s in scores]
        total, terms = 0.0, 0
        entropy = scores[0].new_zeros(())
        for t in range(2):
            codes = sinkhorn_knopp(scores[t], epsilon, iterations)
            entropy = entropy - (codes * torch.log(codes.clamp_min(1e-12))).sum(1).mean() / 2
            for v in range(len(views)):
                if v != t:
                    total = total - (codes * log_probs[v]).sum(1).mean()
                    terms += 1
        return {"loss": total / terms, "code_entropy": entropy.detach()}  # type: ignore[dict-item]

"""DINO (Caron et al., arXiv 2104.14294): self-distillation with no labels, multi-crop."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.encoders import DINOProjectionHead
from selfsup.teachers import SelfDistillationTeacher
from selfsup_vision.augment.presets import device_multicrop
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod, frozen_prototypes_reason

__all__ = ["DINO"]


class DINO(JointEmbeddingMethod):
    """DINO: a student matches an EMA teacher's centred, sharpened prototype distribution
    across crops.

    .. math::

        L = \\frac{1}{|\\mathcal{P}|} \\sum_{(t, v)} H\\big(
            \\mathrm{softmax}((\\bar g(\\bar f(x_t)) - c) / \\tau_t),\\
            \\mathrm{softmax}(g(f(x_v)) / \\tau_s)\\big)

    over the pairs of a global crop ``t`` (seen by the teacher) and any other crop ``v`` (seen
    by the student): :func:`selfsup.losses.dino_loss`, with the centre ``c``
    (:class:`~selfsup.losses.SelfDistillationCenter`, synchronised over ranks and saved in
    checkpoints). ``f`` is the encoder, ``g`` the prototype head
    (:class:`selfsup.encoders.DINOProjectionHead`); ``\\bar f, \\bar g`` are their EMA
    copies, held with the loss and the progress in ``self.distillation``
    (:class:`~selfsup.teachers.SelfDistillationTeacher`). The teacher temperature warms up
    linearly from ``warmup_teacher_temperature`` to ``teacher_temperature`` over the first
    ``teacher_temperature_warmup`` share of the steps, and the prototypes stay frozen for the
    first ``freeze_prototypes_steps`` steps (the reference's ``freeze_last_layer``), both read
    from a :class:`~selfsup.teachers.TrainingProgress` the experiment layer advances.

    Views: two global crops at the input size (``global_crop_scale``) and ``num_local_crops``
    local crops of ``local_crop_size`` pixels (``local_crop_scale``), drawn on the device from
    the ``views`` preset (:func:`~selfsup_vision.augment.device_multicrop`), or the views a
    ``{"views": [...]}`` batch brings (globals first). The encoder sees each size in one pass.

    Args:
        encoder: Encoder with ``out_dim`` (default None: CIFAR-stem ResNet-18; a ViT works too).
        in_channels: Image channels (default 3).
        hidden_dim: Head MLP width (default 2048).
        bottleneck_dim: Head bottleneck (default 256).
        num_prototypes: Prototypes ``K`` (default 65536, the paper's).
        head_layers: Head MLP Linears (default 3).
        head_batch_norm: BN in the head MLP (default False; the reference's ResNet runs use it).
        norm_last_layer: Unit-norm prototypes (default True).
        student_temperature: :math:`\\tau_s` (default 0.1).
        teacher_temperature: Final :math:`\\tau_t` (default 0.04).
        warmup_teacher_temperature: :math:`\\tau_t` at step 0 (default 0.04).
        teacher_temperature_warmup: Share of training of the warm-up (default 0: none).
        center_momentum: Centre EMA momentum (default 0.9).
        momentum: Teacher EMA schedule (default ``"cosine:0.996:1.0"``).
        freeze_prototypes_steps: Steps with frozen prototypes (default 0).
        num_local_crops: Local crops per image (default 6).
        local_crop_size: Side of a local crop in pixels (default 16, for 32-pixel images).
        global_crop_scale: Global crop area range (default ``(0.4, 1.0)``, the paper's).
        local_crop_scale: Local crop area range (default ``(0.05, 0.4)``, the paper's).
        views: View preset for the crops' colour distribution (default ``"byol-cifar"``).

    Shapes:
        batch: images ``(B, C, H, W)`` in ``[0, 1]``, an ``(images, labels)`` pair, or
            ``{"views": [g1, g2, l1, ...]}``.
        embed: ``(B, C, H, W)`` -> ``(B, encoder.out_dim)`` (the student encoder).

    Raises:
        ValueError: bad sizes, crop scales, temperatures or momentum.

    Examples:
        >>> from selfsup_vision.encoders import SmallConvNet
        >>> method = DINO(SmallConvNet(width=8, out_dim=32), hidden_dim=64,
        ...               bottleneck_dim=16, num_prototypes=128, num_local_crops=2)
        >>> out = method.training_losses(torch.rand(4, 3, 32, 32))
        >>> sorted(out)
        ['loss', 'teacher_entropy', 'teacher_temperature']
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        num_prototypes: int = 65536,
        head_layers: int = 3,
        head_batch_norm: bool = False,
        norm_last_layer: bool = True,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        teacher_temperature_warmup: float = 0.0,
        center_momentum: float = 0.9,
        momentum: str | float = "cosine:0.996:1.0",
        freeze_prototypes_steps: int = 0,
        num_local_crops: int = 6,
        local_crop_size: int = 16,
        global_crop_scale: tuple[float, float] = (0.4, 1.0),
        local_crop_scale: tuple[float, float] = (0.05, 0.4),
        views: str = "byol-cifar",
    ) -> None:
        super().__init__()
        if num_local_crops < 0 or local_crop_size < 1 or freeze_prototypes_steps < 0:
            raise ValueError(
                "need num_local_crops >= 0, local_crop_size >= 1 and freeze_prototypes_steps "
                f">= 0, got {num_local_crops}, {local_crop_size}, {freeze_prototypes_steps}."
            )
        self._setup(encoder, in_channels, None, None, num_prototypes)
        self.multicrop = device_multicrop(
            views,
            local_crop_size,
            num_local_crops,
            tuple(global_crop_scale),
            tuple(local_crop_scale),
        )
        self.head = DINOProjectionHead(
            self.feature_dim,
            hidden_dim,
            bottleneck_dim,
            num_prototypes,
            head_layers,
            head_batch_norm,
            norm_last_layer,
        )
        self.distillation = SelfDistillationTeacher(
            self.encoder,
            self.head,
            num_prototypes,
            momentum=momentum,
            student_temperature=student_temperature,
            teacher_temperature=teacher_temperature,
            warmup_teacher_temperature=warmup_teacher_temperature,
            teacher_temperature_warmup=teacher_temperature_warmup,
            center_momentum=center_momentum,
        )
        self.freeze_prototypes_steps = int(freeze_prototypes_steps)

    def unused_parameters_reason(self) -> str | None:
        return frozen_prototypes_reason(self.freeze_prototypes_steps)

    def draw_views(self, images: Tensor) -> list[Tensor]:
        """Two global crops, then ``num_local_crops`` local crops, drawn on the device."""
        return self.multicrop(images)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        views = self.views(batch)
        frozen = self.training and self.distillation.progress.step < self.freeze_prototypes_steps

        def student_head(h: Tensor) -> Tensor:
            return self.head(h, freeze_prototypes=frozen)

        student = torch.stack(self.encode(views, student_head))
        teacher = self.distillation(torch.cat(views[:2])).unflatten(0, (2, -1))
        return self.distillation.losses(student, teacher)

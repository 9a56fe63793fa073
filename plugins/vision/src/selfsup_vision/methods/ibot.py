"""iBOT (Zhou et al., arXiv 2111.07832): DINO on [CLS] plus masked patch self-distillation."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.encoders import DINOProjectionHead
from selfsup.losses import SelfDistillationCenter, ibot_patch_loss
from selfsup.masking import block_mask
from selfsup.teachers import SelfDistillationTeacher
from selfsup_vision.encoders.vit import ViTEncoder, require_vit
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod
from selfsup_vision.patches import host_generator

__all__ = ["IBOT"]


class IBOT(JointEmbeddingMethod):
    """iBOT: the student sees two global crops with blocks of patches masked; it matches the EMA
    teacher's prototype distributions of the unmasked crops on [CLS] across views and on the
    masked patches within a view.

    .. math::

        L = L_{[CLS]} + \\lambda\\, L_{MIM}

    ``L_[CLS]`` is :func:`selfsup.losses.dino_loss` between the teacher's [CLS] of one crop and
    the student's of the other; ``L_MIM`` is :func:`selfsup.losses.ibot_patch_loss`: for each
    crop, the student's output on every masked patch matches the teacher's output on the same
    patch of the unmasked crop. Both go through one shared prototype head
    (:class:`selfsup.encoders.DINOProjectionHead`, iBOT's ``shared_head``), each with its own
    centre (:class:`~selfsup.losses.SelfDistillationCenter`, synchronised over ranks). Masked
    patches are replaced by a learned mask token (plus their position embedding) before the
    blocks, as BEiT and iBOT do. Each crop masks, in a random ``mask_probability`` share of its
    images, a ratio drawn from ``mask_ratio`` of the patches in rectangles
    (:func:`selfsup.masking.block_mask`; one ratio per crop and step, where iBOT draws one per
    image); every step masks at least one patch. The teacher temperature warm-up and the
    training progress are DINO's. The crops are global only: a :class:`ViTEncoder` has position
    embeddings for its own ``image_size``.

    Args:
        encoder: A :class:`~selfsup_vision.encoders.ViTEncoder` (default None: its defaults).
        in_channels: Image channels (default 3).
        hidden_dim, bottleneck_dim, num_prototypes: The head (default 2048, 256, 8192).
        student_temperature, teacher_temperature, warmup_teacher_temperature,
        teacher_temperature_warmup, center_momentum: As :class:`~selfsup.losses.DINOLoss`
            (default 0.1, 0.04, 0.04, 0, 0.9).
        momentum: Teacher EMA schedule (default ``"cosine:0.996:1.0"``).
        mask_ratio: Range of the masked share of patches (default ``(0.1, 0.5)``: iBOT's
            0.3 +- 0.2).
        mask_probability: Share of images masked per crop (default 0.5, iBOT's).
        patch_loss_weight: :math:`\\lambda` (default 1).
        views: View preset of the two global crops (default ``"byol-cifar"``).

    Shapes:
        batch: images ``(B, C, S, S)`` at the ViT's size, an ``(images, labels)`` pair, or
            ``{"views": [v1, v2]}``.
        embed: ``(B, C, S, S)`` -> ``(B, encoder.out_dim)`` (the student ViT, its pooling).

    Raises:
        ValueError: a non-ViT encoder, a bad mask range or probability.

    Examples:
        >>> from selfsup_vision.encoders import ViTEncoder
        >>> vit = ViTEncoder(image_size=8, patch_size=2, hidden_size=16, num_layers=1,
        ...                  num_heads=2)
        >>> method = IBOT(vit, hidden_dim=32, bottleneck_dim=8, num_prototypes=16)
        >>> sorted(method.training_losses(torch.rand(4, 3, 8, 8)))  # doctest: +NORMALIZE_WHITESPACE
        ['cls_loss', 'loss', 'masked_patches', 'patch_loss', 'teacher_entropy',
         'teacher_temperature']
    """

    encoder: ViTEncoder

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        num_prototypes: int = 8192,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        teacher_temperature_warmup: float = 0.0,
        center_momentum: float = 0.9,
        momentum: str | float = "cosine:0.996:1.0",
        mask_ratio: tuple[float, float] = (0.1, 0.5),
        mask_probability: float = 0.5,
        patch_loss_weight: float = 1.0,
        views: str = "byol-cifar",
    ) -> None:
        super().__init__()
        low, high = (float(r) for r in mask_ratio)
        if not (0.0 <= low <= high < 1.0 and 0.0 <= mask_probability <= 1.0):
            raise ValueError(
                "need 0 <= mask_ratio[0] <= mask_ratio[1] < 1 and mask_probability in [0, 1], "
                f"got {mask_ratio}, {mask_probability}."
            )
        vit = require_vit(encoder, in_channels, "IBOT")
        self._setup(vit, in_channels, views, None, num_prototypes)
        self.mask_token = nn.Parameter(torch.zeros(vit.out_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.head = DINOProjectionHead(vit.out_dim, hidden_dim, bottleneck_dim, num_prototypes)
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
        self.patch_centering = SelfDistillationCenter(num_prototypes, center_momentum)
        self.mask_ratio = (low, high)
        self.mask_probability = float(mask_probability)
        self.patch_loss_weight = float(patch_loss_weight)

    def draw_masks(self, batch_size: int, device: torch.device) -> Tensor:
        """``(batch_size, N)`` bool: blocks of patches masked in a random share of the images."""
        gen = host_generator()
        low, high = self.mask_ratio
        ratio = low + (high - low) * float(torch.rand((), generator=gen))
        mask = block_mask(batch_size, self.encoder.grid, ratio, generator=gen)
        chosen = torch.rand(batch_size, generator=gen) < self.mask_probability
        mask = mask & chosen[:, None]
        if not bool(mask.any()):
            # at least one masked patch per step: the mask token always gets a gradient, so DDP
            # never meets an unused parameter
            mask[0, int(torch.randint(mask.shape[1], (1,), generator=gen))] = True
        return mask.to(device)

    def _student_tokens(self, images: Tensor, mask: Tensor) -> Tensor:
        patches = self.encoder.patch_embeddings(images)
        positions = self.encoder.model.embeddings.position_embeddings[:, 1:]
        masked = self.mask_token.to(patches.dtype) + positions.to(patches.dtype)
        return self.encoder.run(torch.where(mask[..., None], masked, patches))

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        views = self.views(batch)[:2]
        b = views[0].shape[0]
        images = torch.cat(views)
        mask = self.draw_masks(2 * b, images.device)
        student = self.head(self._student_tokens(images, mask)).unflatten(0, (2, b))
        distill = self.distillation
        with torch.no_grad():
            tokens = distill.encoder.teacher.tokens(images)
            teacher = distill.head.teacher(tokens).unflatten(0, (2, b))
        patch_loss = ibot_patch_loss(
            student[:, :, 1:],
            teacher[:, :, 1:],
            mask.unflatten(0, (2, b)),
            self.patch_centering.center,
            distill.student_temperature,
            distill.temperature,
        )
        out = distill.losses(student[:, :, 0], teacher[:, :, 0])
        if self.training:
            self.patch_centering.update(teacher[:, :, 1:])
        cls_loss = out.pop("loss")
        return {
            "loss": cls_loss + self.patch_loss_weight * patch_loss,
            "cls_loss": cls_loss.detach(),
            "patch_loss": patch_loss.detach(),
            "masked_patches": mask.float().mean(),
            **out,
        }

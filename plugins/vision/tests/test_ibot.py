"""iBOT on images: the loss is core's dino_loss on [CLS] plus ibot_patch_loss on the masked
patches, the student sees mask tokens where the teacher sees the patches, and every step masks."""

from __future__ import annotations

import torch

from selfsup.losses import dino_loss, ibot_patch_loss
from selfsup_vision.encoders import ViTEncoder
from selfsup_vision.methods import IBOT


def _ibot(**kwargs) -> IBOT:
    torch.manual_seed(0)
    vit = ViTEncoder(image_size=8, patch_size=2, hidden_size=16, num_layers=1, num_heads=2)
    args = {"hidden_dim": 16, "bottleneck_dim": 8, "num_prototypes": 12}
    return IBOT(vit, **{**args, **kwargs}).double()


def test_the_loss_is_cls_self_distillation_plus_masked_patch_prediction() -> None:
    method = _ibot(patch_loss_weight=0.5)
    gen = torch.Generator().manual_seed(1)
    views = [torch.rand(3, 3, 8, 8, generator=gen, dtype=torch.float64) for _ in "ab"]
    torch.manual_seed(5)
    out = method.training_losses({"views": views})
    torch.manual_seed(5)
    mask = method.draw_masks(6, torch.device("cpu"))
    images = torch.cat(views)
    student = method.head(method._student_tokens(images, mask)).unflatten(0, (2, 3))
    with torch.no_grad():
        teacher = method.distillation.head(method.distillation.encoder.teacher.tokens(images))
    teacher = teacher.unflatten(0, (2, 3))
    zeros = torch.zeros(12, dtype=torch.float64)
    expected = dino_loss(student[:, :, 0], teacher[:, :, 0], zeros, 0.1, 0.04) + 0.5 * (
        ibot_patch_loss(student[:, :, 1:], teacher[:, :, 1:], mask.view(2, 3, -1), zeros, 0.1, 0.04)
    )
    torch.testing.assert_close(out["loss"], expected, rtol=0, atol=1e-10)
    assert method.patch_centering.center.abs().sum() > 0  # moved after the loss


def test_masked_patches_become_the_mask_token_and_every_step_masks() -> None:
    method = _ibot(mask_probability=0.0)  # no image chosen: one patch is still masked
    mask = method.draw_masks(4, torch.device("cpu"))
    assert int(mask.sum()) == 1
    images = torch.rand(4, 3, 8, 8, dtype=torch.float64)
    patches = method.encoder.patch_embeddings(images)
    positions = method.encoder.model.embeddings.position_embeddings[:, 1:]
    full = torch.zeros_like(mask)
    full[0, 3] = True
    got = method._student_tokens(images, full)
    swapped = torch.where(full[..., None], method.mask_token + positions, patches)
    torch.testing.assert_close(got, method.encoder.run(swapped))
    method.training_losses(images)["loss"].backward()
    assert method.mask_token.grad is not None and method.mask_token.grad.abs().sum() > 0

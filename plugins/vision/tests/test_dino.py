"""DINO on images: the loss is dino_loss on the student's and the EMA teacher's crops, the
schedules follow the training progress, the centre and progress resume, and it trains."""

from __future__ import annotations

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from selfsup.experiment import SSLModule, Task
from selfsup.losses import dino_loss
from selfsup.testing.boring import quiet_trainer
from selfsup_vision.encoders import SmallConvNet
from selfsup_vision.methods import DINO


def _dino(**kwargs) -> DINO:
    torch.manual_seed(0)
    args = {"hidden_dim": 16, "bottleneck_dim": 8, "num_prototypes": 32, "num_local_crops": 2}
    return DINO(SmallConvNet(width=4, out_dim=8), local_crop_size=4, **{**args, **kwargs})


def _views(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(4, 3, s, s, generator=gen) for s in (8, 8, 4, 4)]


def test_the_loss_is_dino_loss_of_student_and_teacher_crops() -> None:
    method = _dino().double()
    views = [v.double() for v in _views()]
    center = 0.1 * torch.randn(32, dtype=torch.float64)
    method.distillation.criterion.centering.center.copy_(center)
    out = method.training_losses({"views": views})
    # the same passes by hand: one encoder pass per crop size, the teacher on the globals
    student = torch.cat(
        [
            method.head(method.encoder(torch.cat(views[:2]))),
            method.head(method.encoder(torch.cat(views[2:]))),
        ]
    ).unflatten(0, (4, -1))
    teacher = method.distillation.head(method.distillation.encoder(torch.cat(views[:2])))
    teacher = teacher.unflatten(0, (2, -1))
    expected = dino_loss(student, teacher, center, 0.1, 0.04)
    torch.testing.assert_close(out["loss"], expected, rtol=0, atol=1e-12)
    # the centre moved towards the teacher's mean after the loss used the old one
    moved = 0.9 * center + 0.1 * teacher.reshape(-1, 32).mean(0)
    torch.testing.assert_close(
        method.distillation.criterion.centering.center, moved, rtol=0, atol=1e-12
    )


def test_device_views_are_two_globals_and_the_local_crops() -> None:
    method = _dino(num_local_crops=3)
    views = method.draw_views(torch.rand(5, 3, 8, 8))
    assert [tuple(v.shape) for v in views] == [(5, 3, 8, 8)] * 2 + [(5, 3, 4, 4)] * 3


def test_teacher_temperature_and_frozen_prototypes_follow_the_progress() -> None:
    method = _dino(
        teacher_temperature=0.07,
        warmup_teacher_temperature=0.04,
        teacher_temperature_warmup=0.5,
        freeze_prototypes_steps=2,
    )
    assert method.unused_parameters_reason() is not None
    batch = {"views": _views()}
    out = method.training_losses(batch)
    assert abs(float(out["teacher_temperature"]) - 0.04) < 1e-7
    out["loss"].backward()
    assert method.head.prototypes.grad is None  # frozen in the first steps
    method.distillation.progress.advance(2, 8)  # two of eight steps done: a quarter of training
    out = method.training_losses(batch)
    assert abs(float(out["teacher_temperature"]) - 0.055) < 1e-7
    out["loss"].backward()
    assert method.head.prototypes.grad is not None
    assert _dino().unused_parameters_reason() is None


class _Images(LightningDataModule):
    def train_dataloader(self) -> DataLoader:
        return DataLoader(torch.rand(24, 3, 8, 8), batch_size=8, drop_last=True)


def test_training_moves_teacher_centre_and_progress_which_resume() -> None:
    method = _dino()
    data = _Images()
    start = [p.clone() for p in method.distillation.encoder.parameters()]
    trainer = quiet_trainer(max_steps=3, max_epochs=-1)
    trainer.fit(SSLModule([Task("images", method, data)]))
    assert method.distillation.progress.step == 3 and method.distillation.progress.total == 3
    assert any(
        not torch.equal(a, b) for a, b in zip(start, method.distillation.encoder.parameters())
    )
    assert method.distillation.criterion.centering.center.abs().sum() > 0
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    again = _dino()
    again.load_state_dict(method.state_dict())
    assert again.distillation.progress.step == 3
    torch.testing.assert_close(
        again.distillation.criterion.centering.center,
        method.distillation.criterion.centering.center,
    )

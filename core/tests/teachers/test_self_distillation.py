"""SelfDistillationTeacher: the DINO teacher side, checked against a float64 reference."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from selfsup.experiment import Method
from selfsup.teachers import SelfDistillationTeacher


def _reference(student, teacher, center, tau_s, tau_t):
    # DINO's loss as the paper writes it: every (global t, any v != t) pair, float64 loops
    total, pairs = 0.0, 0
    for t in range(teacher.shape[0]):
        p = torch.softmax((teacher[t] - center) / tau_t, -1)
        for v in range(student.shape[0]):
            if v == t:
                continue
            total = total + (-(p * torch.log_softmax(student[v] / tau_s, -1)).sum(-1)).mean()
            pairs += 1
    return total / pairs


class _Student(Method):
    modality = "vectors"

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(6, 12)
        self.head = nn.Linear(12, 20)
        self.distillation = SelfDistillationTeacher(
            self.encoder,
            self.head,
            20,
            momentum=0.5,
            teacher_temperature=0.07,
            warmup_teacher_temperature=0.02,
            teacher_temperature_warmup=0.5,
        )

    def training_losses(self, batch):
        student = self.head(self.encoder(batch))
        return self.distillation.losses(student, self.distillation(batch[:2]))


def test_losses_match_the_reference_at_the_scheduled_temperature() -> None:
    torch.manual_seed(0)
    method = _Student().double()
    center = 0.1 * torch.randn(20, dtype=torch.float64)
    method.distillation.criterion.centering.center.copy_(center)
    method.update_teacher(step=1, total_steps=4)  # a quarter done: half-way through warm-up
    assert method.distillation.temperature == pytest.approx(0.045)
    views = torch.randn(4, 3, 6, dtype=torch.float64, requires_grad=True)
    out = method.training_losses(views)
    student = method.head(method.encoder(views))
    teacher = method.distillation.head.teacher(method.distillation.encoder.teacher(views[:2]))
    expected = _reference(student, teacher.detach(), center, 0.1, 0.045)
    torch.testing.assert_close(out["loss"], expected, rtol=0, atol=1e-12)
    grad = torch.autograd.grad(out["loss"], views)[0]
    (expected_grad,) = torch.autograd.grad(expected, views)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)
    assert float(out["teacher_temperature"]) == pytest.approx(0.045)
    p = torch.softmax((teacher - center) / 0.045, -1)
    entropy = -(p * p.log()).sum(-1).mean()
    torch.testing.assert_close(out["teacher_entropy"], entropy, rtol=0, atol=1e-10)
    assert 0.0 <= float(out["teacher_entropy"]) <= math.log(20)


def test_the_teacher_follows_the_student_and_resumes() -> None:
    method = _Student()
    before = [p.clone() for p in method.distillation.encoder.parameters()]
    with torch.no_grad():
        method.encoder.weight.add_(1.0)
    method.training_losses(torch.randn(3, 4, 6))
    method.update_teacher(step=1, total_steps=10)
    after = method.distillation.encoder.teacher.weight
    torch.testing.assert_close(after, 0.5 * before[0] + 0.5 * method.encoder.weight)
    assert method.distillation.progress.step == 1
    assert method.distillation.criterion.centering.center.abs().sum() > 0
    again = _Student()
    again.load_state_dict(method.state_dict())
    assert again.distillation.progress.step == 1
    torch.testing.assert_close(
        again.distillation.criterion.centering.center,
        method.distillation.criterion.centering.center,
    )
    # the students are not duplicated under the teacher's keys
    assert not any(k.startswith("distillation.encoder.student") for k in method.state_dict())
    assert all(not p.requires_grad for p in method.distillation.parameters())


def test_bad_temperatures_are_refused() -> None:
    with pytest.raises(ValueError, match="temperatures must be > 0"):
        SelfDistillationTeacher(nn.Linear(2, 2), nn.Linear(2, 4), 4, teacher_temperature=0.0)

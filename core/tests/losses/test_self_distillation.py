"""DINO / iBOT self-distillation against loops over the official formulas (float64, values and
gradients), the centre's EMA, the temperature schedule, the prototype head, and the centre on two
real processes."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.encoders import DINOProjectionHead
from selfsup.losses import (
    DINOLoss,
    SelfDistillationCenter,
    dino_loss,
    ibot_patch_loss,
    teacher_temperature,
)
from selfsup.testing.distributed import run_on_ranks

TOL = 1e-10


def _randn(*shape: int, seed: int, grad: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    return x.requires_grad_() if grad else x


def _softmax(row: list[torch.Tensor]) -> list[torch.Tensor]:
    exps = [torch.exp(v) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def _cross_entropy(teacher_row, center, student_row, tau_t, tau_s) -> torch.Tensor:
    """-sum_k softmax((t - c)/tau_t)_k log softmax(s/tau_s)_k, element by element."""
    k = len(student_row)
    p = _softmax([(teacher_row[j].detach() - center[j]) / tau_t for j in range(k)])
    logits = [student_row[j] / tau_s for j in range(k)]
    log_z = torch.log(sum(torch.exp(v) for v in logits))
    return -sum(p[j] * (logits[j] - log_z) for j in range(k))


def _ref_dino(student, teacher, center, tau_s, tau_t) -> torch.Tensor:
    """The official DINOLoss.forward: for iq in teacher views, for v in student views, v != iq:
    mean over the batch; divided by the number of terms."""
    total, terms = 0.0, 0
    for iq in range(teacher.shape[0]):
        for v in range(student.shape[0]):
            if v == iq:
                continue
            rows = [
                _cross_entropy(teacher[iq, b], center, student[v, b], tau_t, tau_s)
                for b in range(student.shape[1])
            ]
            total = total + sum(rows) / len(rows)
            terms += 1
    return total / terms


@pytest.mark.parametrize("views", [(2, 2), (4, 2), (3, 1)])
def test_dino_loss_equals_the_official_loop_with_gradients(views: tuple[int, int]) -> None:
    vs, vt = views
    student = _randn(vs, 5, 7, seed=0, grad=True)
    teacher = _randn(vt, 5, 7, seed=1, grad=True)
    center = 0.3 * _randn(7, seed=2)
    loss = dino_loss(student, teacher, center, 0.1, 0.04)
    expected = _ref_dino(student, teacher, center, 0.1, 0.04)
    assert abs(float(loss.detach()) - float(expected.detach())) < TOL
    (got,) = torch.autograd.grad(loss, student)
    (want,) = torch.autograd.grad(expected, student)
    torch.testing.assert_close(got, want, rtol=0, atol=TOL)
    # the teacher is a target: no gradient reaches it
    loss = dino_loss(student, teacher, center)
    assert torch.autograd.grad(loss, teacher, allow_unused=True) == (None,)


def _ref_ibot(student, teacher, mask, center, tau_s, tau_t) -> torch.Tensor:
    """The official iBOTLoss patch term: per view q == v, sum over masked tokens / their count
    (at least 1), mean over images; mean over views."""
    total = 0.0
    for v in range(student.shape[0]):
        per_image = []
        for b in range(student.shape[1]):
            terms = [
                _cross_entropy(teacher[v, b, n], center, student[v, b, n], tau_t, tau_s)
                * float(mask[v, b, n])
                for n in range(student.shape[2])
            ]
            per_image.append(sum(terms) / max(1.0, float(mask[v, b].sum())))
        total = total + sum(per_image) / len(per_image)
    return total / student.shape[0]


def test_ibot_patch_loss_equals_the_official_loop_with_gradients() -> None:
    student = _randn(2, 3, 4, 6, seed=3, grad=True)
    teacher = _randn(2, 3, 4, 6, seed=4)
    mask = torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(5)) < 0.5
    mask[0, 1] = False  # an image without masked patches counts as 0 in the mean
    center = 0.2 * _randn(6, seed=6)
    loss = ibot_patch_loss(student, teacher, mask, center, 0.1, 0.07)
    expected = _ref_ibot(student, teacher, mask, center, 0.1, 0.07)
    assert abs(float(loss.detach()) - float(expected.detach())) < TOL
    (got,) = torch.autograd.grad(loss, student)
    (want,) = torch.autograd.grad(expected, student)
    torch.testing.assert_close(got, want, rtol=0, atol=TOL)
    assert not got[~mask].any()  # unmasked patches get no gradient


def test_the_centre_is_an_ema_of_the_row_mean_and_dino_loss_uses_the_old_one() -> None:
    loss_fn = DINOLoss(6, 0.1, center_momentum=0.8, teacher_temperature=0.05).double()
    student, teacher = _randn(3, 4, 6, seed=7), _randn(2, 4, 6, seed=8)
    before = loss_fn.centering.center.clone()
    loss = loss_fn(student, teacher)
    assert float(loss) == pytest.approx(float(dino_loss(student, teacher, before, 0.1, 0.05)))
    mean = teacher.reshape(-1, 6).mean(0)
    torch.testing.assert_close(loss_fn.centering.center, 0.8 * before + 0.2 * mean)
    loss_fn.eval()
    loss_fn(student, teacher)  # evaluation leaves the centre alone
    torch.testing.assert_close(loss_fn.centering.center, 0.8 * before + 0.2 * mean)
    # token logits: each image's token mean first (iBOT's patch centre)
    patches = SelfDistillationCenter(6, momentum=0.0).double()
    tokens = _randn(2, 3, 5, 6, seed=9)
    patches.update(tokens)
    torch.testing.assert_close(patches.center, tokens.mean(2).reshape(-1, 6).mean(0))
    assert "center" in patches.state_dict()


def test_teacher_temperature_warms_up_linearly_then_stays() -> None:
    loss_fn = DINOLoss(4, teacher_temperature=0.07, teacher_temperature_warmup=0.3)
    assert loss_fn.teacher_temperature(0.15) == pytest.approx(0.055)
    teacher = torch.randn(2, 3, 4)
    p = torch.softmax(teacher / 0.07, -1)  # the centre starts at 0
    expected = -(p * p.log()).sum(-1).mean()
    torch.testing.assert_close(loss_fn.teacher_entropy(teacher, 1.0), expected)
    with pytest.raises(ValueError, match="share of training"):
        DINOLoss(4, teacher_temperature_warmup=2.0)
    assert teacher_temperature(0.0, 0.07, 0.04, 0.3) == pytest.approx(0.04)
    assert teacher_temperature(0.15, 0.07, 0.04, 0.3) == pytest.approx(0.055)
    assert teacher_temperature(0.3, 0.07, 0.04, 0.3) == 0.07
    assert teacher_temperature(0.9, 0.07, 0.04, 0.0) == 0.07


def test_bad_inputs_are_named() -> None:
    c = torch.zeros(4)
    with pytest.raises(ValueError, match="at least two student views"):
        dino_loss(torch.randn(1, 2, 4), torch.randn(1, 2, 4), c)
    with pytest.raises(ValueError, match="first V_t <= V_s views"):
        dino_loss(torch.randn(2, 2, 4), torch.randn(3, 2, 4), c)
    with pytest.raises(ValueError, match=r"\(V, B, K\)"):
        dino_loss(torch.randn(2, 4), torch.randn(2, 4), c)
    with pytest.raises(ValueError, match="temperatures"):
        dino_loss(torch.randn(2, 2, 4), torch.randn(2, 2, 4), c, 0.0)
    with pytest.raises(ValueError, match="center has 3 entries"):
        dino_loss(torch.randn(2, 2, 4), torch.randn(2, 2, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="NaN|inf|finite"):
        dino_loss(torch.full((2, 2, 4), math.nan), torch.randn(2, 2, 4), c)
    with pytest.raises(ValueError, match="mask must be a bool"):
        ibot_patch_loss(torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4), torch.ones(1, 2, 3), c)


def test_the_prototype_head_is_unit_prototypes_on_a_unit_bottleneck() -> None:
    head = DINOProjectionHead(8, 16, 4, 10, num_layers=3).double()
    h = _randn(5, 8, seed=10)
    u = torch.nn.functional.normalize(head.mlp(h), dim=1)
    v = torch.nn.functional.normalize(head.prototypes, dim=1)
    torch.testing.assert_close(head(h), u @ v.T)
    assert head(h).abs().max() <= 1 + 1e-12  # cosine similarities
    (grad,) = torch.autograd.grad(
        head(h, freeze_prototypes=True).sum(), head.prototypes, allow_unused=True
    )
    assert grad is None
    scaled = DINOProjectionHead(8, 16, 4, 10, norm_last_layer=False)
    assert scaled.prototype_scale is not None and scaled.prototype_scale.requires_grad
    assert sum(p.numel() for p in head.parameters()) < sum(p.numel() for p in scaled.parameters())
    with pytest.raises(ValueError, match="num_layers"):
        DINOProjectionHead(8, num_layers=0)


# -- two processes: the centre is the global mean on every rank ---------------------------------
def _center_on_rank(rank: int, world: int) -> torch.Tensor:
    teacher = _randn(2, 8, 5, seed=11)
    center = SelfDistillationCenter(5, momentum=0.5).double()
    center.update(teacher[:, rank * 4 : (rank + 1) * 4])
    return center.center


@pytest.mark.distributed
def test_the_centre_is_the_global_batch_mean_on_every_rank() -> None:
    teacher = _randn(2, 8, 5, seed=11)
    one = SelfDistillationCenter(5, momentum=0.5).double()
    one.update(teacher)
    for got in run_on_ranks(_center_on_rank):
        torch.testing.assert_close(got, one.center, rtol=0, atol=1e-12)

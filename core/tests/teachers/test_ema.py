"""Tests for selfsup.teachers.ema (EMATeacher)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from selfsup.teachers import EMATeacher, constant, cosine, linear


def _student(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def _perturb(student: nn.Module, seed: int = 1) -> None:
    """Change the student's parameters and BatchNorm statistics (as a training step would)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    student.train()
    student(torch.randn(8, 3) * 3 + 1)


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_construction_registration_and_no_grad_params() -> None:
    student = _student()
    ema = EMATeacher(student)
    assert ema.student is student
    assert "student" not in dict(ema.named_children())
    assert set(ema.state_dict()) == {f"teacher.{k}" for k in student.state_dict()} | {"last_step"}
    assert len(list(ema.parameters())) == len(list(student.parameters()))
    assert all(not p.requires_grad for p in ema.parameters())
    assert all(p.requires_grad for p in student.parameters())  # student untouched
    for k, v in student.state_dict().items():
        assert torch.equal(ema.teacher.state_dict()[k], v)
    assert int(ema.last_step) == -1
    assert ema.schedule == cosine(0.996, 1.0)


def test_update_matches_float64_reference() -> None:
    student = _student()
    ema = EMATeacher(student, momentum=cosine(0.9, 1.0))
    _perturb(student)
    before = {k: v.double() for k, v in _snapshot(ema.teacher).items()}
    m = ema.update(step=3, total_steps=10)
    assert m == pytest.approx(1.0 - 0.1 * (math.cos(math.pi * 0.3) + 1) / 2)
    after = ema.teacher.state_dict()
    for name, s in student.state_dict().items():
        if name.endswith("num_batches_tracked"):
            assert torch.equal(after[name], s)  # integer buffers are copied
            assert int(after[name]) == 1
            continue
        ref = m * before[name] + (1 - m) * s.double()  # teacher = m teacher + (1 - m) student
        torch.testing.assert_close(after[name].double(), ref, rtol=1e-6, atol=1e-7)
    assert "1.running_mean" in after and not torch.equal(
        after["1.running_mean"], before["1.running_mean"].float()
    )
    assert int(ema.last_step) == 3


def test_once_per_optimizer_step_under_accumulation() -> None:
    student = _student()
    ema = EMATeacher(student, momentum=constant(0.5))
    _perturb(student)
    assert ema.update(1, 100) == 0.5
    first = _snapshot(ema.teacher)
    for seed in range(3):  # micro-batches 2..4 of the same optimiser step
        _perturb(student, seed=10 + seed)
        assert ema.update(1, 100) is None
        assert ema.update(0, 100) is None
    for k, v in _snapshot(ema.teacher).items():
        assert torch.equal(v, first[k])
    assert ema.update(2, 100) == 0.5
    assert not torch.equal(ema.teacher[0].weight, first["0.weight"])


def test_state_dict_round_trip_into_fresh_teacher() -> None:
    student = _student()
    ema = EMATeacher(student, momentum=linear(0.9, 1.0))
    _perturb(student)
    ema.update(5, 10)
    saved = _snapshot(ema)
    fresh = EMATeacher(_student(seed=7), momentum=linear(0.9, 1.0))
    fresh.load_state_dict(saved)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, saved[k])
    assert int(fresh.last_step) == 5
    assert fresh.update(5, 10) is None  # the restored step is honoured without a device read
    assert fresh.update(6, 10) == pytest.approx(0.96)


def test_no_gradient_reaches_the_teacher() -> None:
    student = _student()
    ema = EMATeacher(student)
    ema.requires_grad_(True)  # even if someone re-enables grads, forward runs under no_grad
    x = torch.randn(5, 3, requires_grad=True)
    target = ema(x)
    assert not target.requires_grad and target.grad_fn is None
    loss = (student(x) - target).pow(2).sum()
    loss.backward()
    assert all(p.grad is None for p in ema.teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    ema2 = EMATeacher(_student())
    assert all(not p.requires_grad for p in ema2.teacher.parameters())


def test_forward_detaches_structured_outputs() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> dict[str, object]:
            y = self.lin(x)
            return {"a": y, "b": (y, [y * 2]), "n": 3}

    ema = EMATeacher(Two())
    ema.teacher.requires_grad_(True)
    out = ema(torch.randn(1, 2, requires_grad=True))
    assert not out["a"].requires_grad and not out["b"][1][0].requires_grad and out["n"] == 3


def test_momentum_one_keeps_teacher_and_zero_copies_student() -> None:
    student = _student()
    frozen = EMATeacher(student, momentum=1.0)
    copy_ = EMATeacher(student, momentum=0.0)
    start = _snapshot(frozen.teacher)
    _perturb(student)
    frozen.update(1, 10)
    copy_.update(1, 10)
    for k, v in frozen.teacher.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(v, start[k])
    for k, v in copy_.teacher.state_dict().items():
        assert torch.equal(v, student.state_dict()[k])


def test_train_mode_policy() -> None:
    ema = EMATeacher(_student())
    ema.eval()
    assert not ema.teacher.training
    ema.train()
    assert ema.teacher.training  # follows the parent by default (BYOL/MoCo/DINO targets)
    pinned = EMATeacher(_student(), teacher_train_mode=False)
    pinned.train()
    assert not pinned.teacher.training and not pinned.teacher[1].training
    always = EMATeacher(_student(), teacher_train_mode=True)
    always.eval()
    assert always.teacher.training


def test_repoint_student_and_shape_guard() -> None:
    ema = EMATeacher(_student())
    other = _student(seed=3)
    ema.student = other
    assert ema.student is other and "student" not in ema._modules
    with pytest.raises(ValueError, match="differ"):
        ema.student = nn.Linear(3, 4)
    other[0] = nn.Linear(3, 4, bias=True)
    other[0].weight = nn.Parameter(torch.zeros(4, 5))  # diverged shape after construction
    with pytest.raises(ValueError, match="shape"):
        ema.update(1, 10)
    with pytest.raises(ValueError, match="nn.Module"):
        EMATeacher("not a module")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        EMATeacher(_student(), momentum=1.5)


def test_dtype_move_and_mixed_precision_student() -> None:
    student = _student()
    ema = EMATeacher(student, momentum=constant(0.5)).to(torch.float64)
    assert ema.teacher[0].weight.dtype == torch.float64 and ema.last_step.dtype == torch.long
    t0 = ema.teacher[0].weight.detach().clone()
    _perturb(student)
    ema.update(1, 10)  # float32 student into a float64 teacher (per-tensor fallback path)
    expected = 0.5 * t0 + 0.5 * student[0].weight.detach().double()
    torch.testing.assert_close(ema.teacher[0].weight, expected)


class _Compiled(nn.Module):
    """Stand-in for torch.compile's OptimizedModule (wraps the model as ``_orig_mod``)."""

    def __init__(self, mod: nn.Module) -> None:
        super().__init__()
        self._orig_mod = mod


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(
            nn.DataParallel,
            marks=pytest.mark.skipif(
                torch.cuda.is_available(), reason="DataParallel moves the module to the GPU"
            ),
        ),
        _Compiled,
    ],
)
def test_wrapped_student_is_unwrapped(wrap: type[nn.Module]) -> None:
    student = _student()
    ema = EMATeacher(wrap(student), momentum=0.0)
    assert set(ema.teacher.state_dict()) == set(student.state_dict())
    _perturb(student)
    ema.update(1, 10)
    assert torch.equal(ema.teacher[0].weight, student[0].weight)


def test_delayed_start_keeps_initial_weights_then_follows_the_schedule() -> None:
    student = _student()
    initial = _snapshot(student)
    ema = EMATeacher(student, momentum=linear(0.5, 1.0), start_step=3)
    _perturb(student)
    assert ema.update(step=1, total_steps=10) is None
    assert ema.update(step=2, total_steps=10) is None
    for name, value in ema.teacher.state_dict().items():
        assert torch.equal(value, initial[name])  # untouched before start_step
    assert int(ema.last_step) == -1
    m = ema.update(step=3, total_steps=10)
    assert m == pytest.approx(0.5 + 0.5 * 3 / 10)  # schedule position of step 3, not step 0
    w = ema.teacher.state_dict()["0.weight"].double()
    ref = m * initial["0.weight"].double() + (1 - m) * student.state_dict()["0.weight"].double()
    torch.testing.assert_close(w, ref, rtol=1e-6, atol=1e-7)
    assert "start_step=3" in repr(ema)


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_start_step_must_be_a_non_negative_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="start_step must be a non-negative integer"):
        EMATeacher(_student(), start_step=bad)  # type: ignore[arg-type]


def test_restart_from_another_architecture_keeps_the_schedule_and_step() -> None:
    ema = EMATeacher(nn.Linear(4, 4), momentum=0.5, start_step=2)
    ema.update(step=3, total_steps=10)
    new = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    ema.restart_from(new)
    assert ema.student is new and int(ema.last_step) == 3 and ema.start_step == 2
    for t, s in zip(ema.teacher.parameters(), new.parameters(), strict=True):
        assert torch.equal(t, s) and t is not s and not t.requires_grad
    with torch.no_grad():
        new[0].weight.add_(1.0)
    ema.update(step=4, total_steps=10)  # follows the new student with the same momentum
    torch.testing.assert_close(ema.teacher[0].weight, new[0].weight - 0.5)

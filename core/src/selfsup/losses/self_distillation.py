"""Self-distillation: DINO's cross-view loss, iBOT's masked-patch loss, and their centre.

A student matches the output distribution of an EMA teacher over ``K`` prototypes. The
teacher's logits are *centred* (a running mean is subtracted) and *sharpened* (a low
temperature), which together keep the outputs from collapsing to one prototype or to the
uniform distribution (Caron et al., DINO, arXiv 2104.14294, Sec. 3.1). iBOT (Zhou et al., arXiv
2111.07832) adds the same loss on the patch tokens the student sees masked.

Inputs are stacked views: ``(V, B, K)`` for one output per sample (DINO's [CLS] head) and
``(V, B, N, K)`` per token; teacher view ``t`` is the same crop as student view ``t`` (the
global crops come first), so the teacher sees only the first ``V_t <= V_s`` views.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup import distributed as sdist
from selfsup.checks import check_finite
from selfsup.precision import autocast_off, promote

__all__ = [
    "DINOLoss",
    "SelfDistillationCenter",
    "dino_loss",
    "ibot_patch_loss",
    "teacher_temperature",
]


def _check_temperatures(student_temperature: float, teacher_temperature: float) -> None:
    if not (student_temperature > 0 and teacher_temperature > 0):
        raise ValueError(
            f"temperatures must be > 0, got student {student_temperature} and teacher "
            f"{teacher_temperature}."
        )


def _teacher_probs(teacher: Tensor, center: Tensor, temperature: float) -> Tensor:
    (t,) = promote(teacher.detach())
    return F.softmax((t - center.to(t.dtype)) / temperature, dim=-1)


def _student_log_probs(student: Tensor, temperature: float) -> Tensor:
    (s,) = promote(student)
    return F.log_softmax(s / temperature, dim=-1)


@autocast_off
def dino_loss(
    student: Tensor,
    teacher: Tensor,
    center: Tensor,
    student_temperature: float = 0.1,
    teacher_temperature: float = 0.04,
) -> Tensor:
    """DINO's cross-entropy between the centred, sharpened teacher and the student, over
    every pair of different views.

    .. math::

        P_t = \\mathrm{softmax}\\big((g_t - c) / \\tau_t\\big), \\qquad
        \\log Q_v = \\mathrm{log\\,softmax}(s_v / \\tau_s)

        L = \\frac{1}{|\\mathcal{P}|} \\sum_{(t, v) \\in \\mathcal{P}} \\frac{1}{B}
            \\sum_b -\\langle P_{t,b}, \\log Q_{v,b} \\rangle, \\qquad
        \\mathcal{P} = \\{(t, v): t < V_t,\\ v < V_s,\\ v \\ne t\\}

    (``DINOLoss.forward`` of the official code). The teacher is detached. Summed over pairs as
    ``<sum_t P_t, sum_v log Q_v> - sum_t <P_t, log Q_t>``: O(V B K), not O(V^2 B K).

    Args:
        student: Student logits, views stacked.
        teacher: Teacher logits of the first ``V_t`` views (detached inside).
        center: The running centre ``c`` (:class:`SelfDistillationCenter`).
        student_temperature: :math:`\\tau_s` (default 0.1).
        teacher_temperature: :math:`\\tau_t` (default 0.04; see :func:`teacher_temperature`).

    Shapes:
        student: ``(V_s, B, K)``; teacher: ``(V_t, B, K)`` with ``1 <= V_t <= V_s`` and
        ``V_s >= 2``; center: ``(K,)`` or ``(1, K)``. Output: scalar.

    Raises:
        ValueError: bad shapes, fewer than two views, NaN/inf, temperatures <= 0.

    Examples:
        >>> s, t = torch.randn(4, 8, 32), torch.randn(2, 8, 32)
        >>> dino_loss(s, t, torch.zeros(32)).shape
        torch.Size([])
    """
    _check_views(student, teacher, center, dims=3)
    _check_temperatures(student_temperature, teacher_temperature)
    vt = teacher.shape[0]
    p = _teacher_probs(teacher, center, teacher_temperature)  # (Vt, B, K)
    log_q = _student_log_probs(student, student_temperature)  # (Vs, B, K)
    cross = (p.sum(0) * log_q.sum(0)).sum(-1)  # (B,): every (t, v) pair
    same = (p * log_q[:vt]).sum(dim=(0, 2))  # (B,): the pairs t == v, left out
    pairs = vt * student.shape[0] - vt
    return -(cross - same).mean() / pairs


@autocast_off
def ibot_patch_loss(
    student: Tensor,
    teacher: Tensor,
    mask: Tensor,
    center: Tensor,
    student_temperature: float = 0.1,
    teacher_temperature: float = 0.04,
) -> Tensor:
    """iBOT's masked image modelling loss: per view, the student's masked patch tokens match the
    teacher's tokens of the same patches in the unmasked view.

    .. math::

        L = \\frac{1}{V} \\sum_v \\frac{1}{B} \\sum_b
            \\frac{\\sum_n m_{v,b,n} \\cdot -\\langle P_{v,b,n}, \\log Q_{v,b,n} \\rangle}
                  {\\max(1, \\sum_n m_{v,b,n})}

    with :math:`P` and :math:`Q` as in :func:`dino_loss` (teacher centred and sharpened) on
    tokens. A sample with no masked patch counts as 0 in the mean over ``B`` (the official
    ``iBOTLoss``; iBOT masks only a share of the images).

    Args:
        student: Student patch logits (masked input).
        teacher: Teacher patch logits (same views, unmasked input; detached inside).
        mask: True on the patches the student saw masked.
        center: The running patch centre.
        student_temperature, teacher_temperature: As :func:`dino_loss`.

    Shapes:
        student, teacher: ``(V, B, N, K)``; mask: ``(V, B, N)`` bool; center: ``(K,)``.
        Output: scalar.

    Raises:
        ValueError: bad shapes or dtypes, NaN/inf, temperatures <= 0.

    Examples:
        >>> s, t = torch.randn(2, 4, 16, 32), torch.randn(2, 4, 16, 32)
        >>> ibot_patch_loss(s, t, torch.rand(2, 4, 16) < 0.3, torch.zeros(32)).shape
        torch.Size([])
    """
    _check_views(student, teacher, center, dims=4)
    if teacher.shape != student.shape:
        raise ValueError(
            f"ibot_patch_loss pairs each student view with the teacher's same view: shapes must "
            f"match, got student {tuple(student.shape)} and teacher {tuple(teacher.shape)}."
        )
    if mask.dtype != torch.bool or mask.shape != student.shape[:3]:
        raise ValueError(
            f"mask must be a bool tensor of shape (V, B, N) = {tuple(student.shape[:3])}, got "
            f"{mask.dtype} {tuple(mask.shape)}."
        )
    _check_temperatures(student_temperature, teacher_temperature)
    p = _teacher_probs(teacher, center, teacher_temperature)
    log_q = _student_log_probs(student, student_temperature)
    token = -(p * log_q).sum(-1)  # (V, B, N)
    m = mask.to(token.dtype)
    per_image = (token * m).sum(-1) / m.sum(-1).clamp(min=1.0)
    return per_image.mean()


def _check_views(student: Tensor, teacher: Tensor, center: Tensor, dims: int) -> None:
    what = "(V, B, K)" if dims == 3 else "(V, B, N, K)"
    for name, x in (("student", student), ("teacher", teacher)):
        if not isinstance(x, Tensor) or x.dim() != dims:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} logits must be {what} (views stacked), got {got}.")
        check_finite(name, x)
    if teacher.shape[1:] != student.shape[1:] or not 1 <= teacher.shape[0] <= student.shape[0]:
        raise ValueError(
            f"teacher logits {tuple(teacher.shape)} must hold the first V_t <= V_s views of the "
            f"student's {tuple(student.shape)} (same batch and prototypes)."
        )
    if dims == 3 and student.shape[0] < 2:
        raise ValueError(
            "dino_loss needs at least two student views: it only compares different views."
        )
    if center.numel() != student.shape[-1]:
        raise ValueError(f"center has {center.numel()} entries for {student.shape[-1]} prototypes.")


def teacher_temperature(
    fraction: float, final: float = 0.04, warmup_start: float = 0.04, warmup: float = 0.0
) -> float:
    """DINO's teacher temperature: linear from ``warmup_start`` to ``final`` over the first
    ``warmup`` share of training, then ``final`` (``warmup_teacher_temp`` 0.04 ->
    ``teacher_temp`` over ``warmup_teacher_temp_epochs``, here a share of the steps).

    Examples:
        >>> round(teacher_temperature(0.05, final=0.07, warmup_start=0.04, warmup=0.1), 6)
        0.055
    """
    if warmup <= 0 or fraction >= warmup:
        return float(final)
    return float(warmup_start + (final - warmup_start) * fraction / warmup)


class SelfDistillationCenter(nn.Module):
    """The running centre of the teacher's logits, the same on every rank.

    .. math::

        c \\leftarrow m\\, c + (1 - m)\\, \\frac{1}{W R} \\sum_{\\text{ranks}} \\sum_{r} g_r

    over the ``R`` rows per rank (all teacher views and samples; for tokens, each sample's
    token mean first, as iBOT). The row sums are summed over ranks (``all_reduce``), so the
    centre is the global-batch mean's EMA on every rank, as the official code. A persistent
    buffer: checkpoints save it and a resumed run continues with it.

    Args:
        dim: Prototypes ``K``.
        momentum: :math:`m` (default 0.9, DINO and iBOT).

    Examples:
        >>> center = SelfDistillationCenter(32)
        >>> center.update(torch.ones(2, 8, 32))
        >>> round(float(center.center[0]), 6)
        0.1
    """

    center: Tensor

    def __init__(self, dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        if dim < 1 or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"need dim >= 1 and momentum in [0, 1], got {dim}, {momentum}.")
        self.momentum = float(momentum)
        self.register_buffer("center", torch.zeros(dim))

    @torch.no_grad()
    def update(self, teacher: Tensor) -> None:
        """Move the centre towards the global mean of ``teacher`` rows ``(..., K)``; token
        logits ``(V, B, N, K)`` are averaged over ``N`` first."""
        (rows,) = promote(teacher.detach())
        if rows.dim() == 4:
            rows = rows.mean(2)
        rows = rows.reshape(-1, rows.shape[-1])
        total = torch.cat([rows.sum(0), rows.new_tensor([rows.shape[0]])])
        if sdist.is_distributed():
            total = total.clone()
            torch.distributed.all_reduce(total)
        mean = total[:-1] / total[-1]
        self.center.mul_(self.momentum).add_(mean.to(self.center.dtype), alpha=1 - self.momentum)


class DINOLoss(nn.Module):
    """:func:`dino_loss` with its centre and teacher-temperature schedule: computes the loss
    with the current centre, then (in training mode) updates the centre with this step's
    teacher logits.

    Args:
        dim: Prototypes ``K`` (the head's output size).
        student_temperature: :math:`\\tau_s` (default 0.1).
        center_momentum: Centre EMA momentum (default 0.9).
        teacher_temperature: Final :math:`\\tau_t` (default 0.04).
        warmup_teacher_temperature: :math:`\\tau_t` at the start (default 0.04).
        teacher_temperature_warmup: Share of training the warm-up takes (default 0).

    Examples:
        >>> loss_fn = DINOLoss(32, teacher_temperature=0.07, teacher_temperature_warmup=0.3)
        >>> loss = loss_fn(torch.randn(4, 8, 32), torch.randn(2, 8, 32), fraction=0.1)
    """

    def __init__(
        self,
        dim: int,
        student_temperature: float = 0.1,
        center_momentum: float = 0.9,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        teacher_temperature_warmup: float = 0.0,
    ) -> None:
        super().__init__()
        _check_temperatures(
            student_temperature, min(teacher_temperature, warmup_teacher_temperature)
        )
        if not 0.0 <= teacher_temperature_warmup <= 1.0:
            raise ValueError(
                "teacher_temperature_warmup is a share of training in [0, 1], got "
                f"{teacher_temperature_warmup}."
            )
        self.student_temperature = float(student_temperature)
        self.teacher_temperatures = (
            float(warmup_teacher_temperature),
            float(teacher_temperature),
            float(teacher_temperature_warmup),
        )
        self.centering = SelfDistillationCenter(dim, center_momentum)

    def teacher_temperature(self, fraction: float) -> float:
        """:math:`\\tau_t` at ``fraction`` of training (:func:`teacher_temperature`)."""
        start, final, warmup = self.teacher_temperatures
        return teacher_temperature(fraction, final, start, warmup)

    @torch.no_grad()
    def teacher_entropy(self, teacher: Tensor, fraction: float) -> Tensor:
        """Mean entropy of the centred, sharpened teacher distribution: near 0 is collapse to
        one prototype, near ``log K`` the uniform output centring alone drifts towards."""
        p = _teacher_probs(teacher, self.centering.center, self.teacher_temperature(fraction))
        return -(p * torch.log(p.clamp_min(1e-12))).sum(-1).mean()

    def forward(self, student: Tensor, teacher: Tensor, fraction: float = 1.0) -> Tensor:
        loss = dino_loss(
            student,
            teacher,
            self.centering.center,
            self.student_temperature,
            self.teacher_temperature(fraction),
        )
        if self.training:
            self.centering.update(teacher)
        return loss

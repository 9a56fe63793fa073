"""The teacher side of self-distillation (DINO, iBOT, and their audio and token cousins).

Every DINO-family method holds the same four things beside its student: EMA copies of the
student's encoder and prototype head, the DINO loss with its synchronised centre and
teacher-temperature schedule, and the training progress that schedule reads. They live here
once, so a method names only what is its own: its views, its trunk and how it pools.
"""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.losses.self_distillation import DINOLoss
from selfsup.teachers.ema import EMATeacher
from selfsup.teachers.progress import TrainingProgress
from selfsup.teachers.schedules import MomentumSchedule

__all__ = ["SelfDistillationTeacher"]


class SelfDistillationTeacher(nn.Module):
    """EMA teacher encoder and head, :class:`~selfsup.losses.DINOLoss` and
    :class:`~selfsup.teachers.TrainingProgress`, for one student encoder and prototype head.

    .. math::

        \\bar\\theta \\leftarrow m_k \\bar\\theta + (1 - m_k) \\theta, \\qquad
        L = \\frac{1}{|\\mathcal{P}|} \\sum_{(t, v)} H\\big(
            \\mathrm{softmax}((\\bar g(\\bar f(x_t)) - c) / \\tau_t(p)),\\
            \\mathrm{softmax}(g(f(x_v)) / \\tau_s)\\big)

    ``p`` is the share of training done (:attr:`fraction`), advanced by the experiment layer
    after every optimiser step together with the EMA (both are found anywhere inside a method,
    so nothing else needs wiring). :meth:`forward` runs the teacher head on the teacher encoder;
    a method whose teacher path is not ``head(encoder(x))`` (patch tokens, padded clips) calls
    :attr:`encoder` and :attr:`head` itself.

    Args:
        encoder: The student encoder ``f`` (held by reference, copied for the teacher).
        head: The student prototype head ``g``.
        num_prototypes: ``K``, the head's output size (the centre's length).
        momentum: Teacher EMA schedule (default ``"cosine:0.996:1.0"``, DINO's).
        student_temperature: :math:`\\tau_s` (default 0.1).
        teacher_temperature: Final :math:`\\tau_t` (default 0.04).
        warmup_teacher_temperature: :math:`\\tau_t` at the start (default 0.04).
        teacher_temperature_warmup: Share of training the warm-up takes (default 0: none).
        center_momentum: Centre EMA momentum (default 0.9).

    Shapes:
        forward: whatever the encoder takes -> ``(..., K)`` detached teacher logits.
        losses: student ``(V_s, B, K)``, teacher ``(V_t, B, K)`` with ``V_t <= V_s`` (the
            teacher's views are the student's first ``V_t``).

    Raises:
        ValueError: bad temperatures, warm-up share or momentum (from the parts).

    Examples:
        >>> import torch
        >>> encoder, head = nn.Linear(8, 16), nn.Linear(16, 32)
        >>> distill = SelfDistillationTeacher(encoder, head, 32)
        >>> x = torch.randn(2, 4, 8)  # two global views of four samples
        >>> out = distill.losses(head(encoder(x)), distill(x))
        >>> sorted(out)
        ['loss', 'teacher_entropy', 'teacher_temperature']
    """

    def __init__(
        self,
        encoder: nn.Module,
        head: nn.Module,
        num_prototypes: int,
        *,
        momentum: str | float | MomentumSchedule = "cosine:0.996:1.0",
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.04,
        warmup_teacher_temperature: float = 0.04,
        teacher_temperature_warmup: float = 0.0,
        center_momentum: float = 0.9,
    ) -> None:
        super().__init__()
        self.encoder = EMATeacher(encoder, momentum)
        self.head = EMATeacher(head, momentum)
        self.criterion = DINOLoss(
            num_prototypes,
            student_temperature,
            center_momentum,
            teacher_temperature,
            warmup_teacher_temperature,
            teacher_temperature_warmup,
        )
        self.progress = TrainingProgress()

    @property
    def fraction(self) -> float:
        """Share of training done, in ``[0, 1]``."""
        return self.progress.fraction

    @property
    def student_temperature(self) -> float:
        """:math:`\\tau_s`."""
        return self.criterion.student_temperature

    @property
    def temperature(self) -> float:
        """The teacher temperature :math:`\\tau_t` at this point of training."""
        return self.criterion.teacher_temperature(self.fraction)

    def forward(self, inputs: Tensor) -> Tensor:
        """Teacher logits ``head(encoder(inputs))``, without gradient."""
        return self.head(self.encoder(inputs))

    def losses(self, student: Tensor, teacher: Tensor) -> dict[str, Tensor]:
        """DINO's loss over view pairs, with what to watch for collapse.

        Returns ``loss``; ``teacher_entropy`` (mean entropy of the centred, sharpened
        teacher, read before the centre moves: near 0 is one prototype, near ``log K`` the
        uniform output) and ``teacher_temperature``. In training mode the centre then moves
        towards this step's teacher mean (synchronised over ranks).
        """
        fraction = self.fraction
        entropy = self.criterion.teacher_entropy(teacher, fraction)
        loss = self.criterion(student, teacher, fraction)
        return {
            "loss": loss,
            "teacher_entropy": entropy,
            "teacher_temperature": loss.new_tensor(self.criterion.teacher_temperature(fraction)),
        }

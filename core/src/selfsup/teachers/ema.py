"""Exponential-moving-average teacher (BYOL arXiv 2006.07733, MoCo, DINO, I-JEPA, data2vec).

The teacher is a deep copy of the student whose weights follow
``theta_teacher <- m * theta_teacher + (1 - m) * theta_student`` once per optimiser step.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.teachers.schedules import MomentumSchedule, cosine, schedule_from_name

__all__ = ["DEFAULT_MOMENTUM", "EMATeacher"]

DEFAULT_MOMENTUM: MomentumSchedule = cosine(0.996, 1.0)


def _unwrap(module: nn.Module) -> nn.Module:
    """Strip DDP/DataParallel and ``torch.compile`` wrappers (their names add prefixes)."""
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel | nn.DataParallel):
            module = module.module
        elif isinstance(getattr(module, "_orig_mod", None), nn.Module):
            module = module._orig_mod  # torch.compile's OptimizedModule
        else:
            return module


def _detach(out: Any) -> Any:
    if isinstance(out, Tensor):
        return out.detach()
    if isinstance(out, tuple) and hasattr(out, "_fields"):  # NamedTuple
        return type(out)(*(_detach(v) for v in out))
    if isinstance(out, list | tuple):
        return type(out)(_detach(v) for v in out)
    if isinstance(out, Mapping):
        return type(out)({k: _detach(v) for k, v in out.items()})  # type: ignore[call-arg]
    return out


class EMATeacher(nn.Module):
    """Momentum (EMA) copy of a student network.

    .. math::

        \\theta_t \\leftarrow m_k \\theta_t + (1 - m_k) \\theta_s

    applied to every parameter **and** every floating-point buffer (BatchNorm running mean/var;
    BYOL/lightly/solo-learn EMA parameters only); integer buffers such as ``num_batches_tracked``
    are copied. ``m_k`` comes from a :class:`~selfsup.teachers.MomentumSchedule` (default BYOL's
    cosine 0.996 -> 1). Updates use ``torch._foreach_mul_`` / ``torch._foreach_add_`` under
    ``no_grad`` (lightly PR #1899: one fused call instead of a Python loop per tensor).

    Registration: ``self.teacher`` is a registered submodule, so it is saved in ``state_dict``
    (with the ``last_step`` buffer), follows ``.to()`` / ``.half()`` and appears in
    ``parameters()`` — with ``requires_grad=False``. Optimisers must be built from parameters with
    ``requires_grad=True`` only (the experiment layer does this); the teacher is never optimised.
    The student is held as a plain (unregistered) reference, so its weights are not duplicated in
    ``state_dict()`` or ``parameters()``; assign ``ema.student = other`` to re-point it (the new
    student must have the same parameter and buffer names and shapes). DDP/DataParallel and
    ``torch.compile`` wrappers are unwrapped when pairing tensors.

    Mode: by default (``teacher_train_mode=None``) the teacher follows ``.train()`` / ``.eval()``
    of this module, i.e. it runs in train mode during training like the BYOL/MoCo/DINO targets
    (BatchNorm normalises with batch statistics, and its running statistics, updated by the
    forward pass, are then averaged with the student's by :meth:`update`). ``True``/``False``
    pin the teacher to train/eval mode whatever the parent's mode.

    Gradient accumulation: :meth:`update` takes the optimiser step and does nothing unless it is
    larger than the last step it applied (kept in the persistent buffer ``last_step``), so calling
    it after every micro-batch applies one update per optimiser step. Call it **after**
    ``optimizer.step()`` (GraphMAE2 updates inside ``forward``, before backward).

    Delayed start: with ``start_step = s > 0`` the teacher keeps its initial weights (a copy of
    the student at construction) and updates only from optimiser step ``s`` on, as GraphMAE2's
    ``delayed_ema_epoch``. The momentum schedule still runs over ``[0, total_steps]``, so the
    first applied update uses ``m_s``, not ``m_0``.

    Args:
        student: The online network (unwrapped, or wrapped in DDP / ``torch.compile``).
        momentum: A schedule, a float (constant momentum) or a name accepted by
            :func:`~selfsup.teachers.schedule_from_name` (default ``cosine(0.996, 1.0)``).
        teacher_train_mode: ``None`` (follow this module), ``True`` or ``False`` (see above).
        start_step: First optimiser step that updates the teacher (default 0: every step).

    Shapes:
        forward: whatever the student's ``forward`` takes and returns (outputs detached).

    Raises:
        ValueError: On an invalid momentum, a negative ``start_step``, or (in :meth:`update` /
            when re-pointing) a student
            whose parameters or buffers no longer match the teacher's names and shapes.

    Example:
        >>> student = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
        >>> ema = EMATeacher(student, momentum=cosine(0.996, 1.0))
        >>> m = ema.update(step=1, total_steps=100)  # after optimizer.step()
        >>> target = ema(torch.randn(2, 4))  # no grad
    """

    last_step: Tensor

    def __init__(
        self,
        student: nn.Module,
        momentum: float | str | MomentumSchedule = DEFAULT_MOMENTUM,
        *,
        teacher_train_mode: bool | None = None,
        start_step: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(student, nn.Module):
            raise ValueError(f"student must be an nn.Module, got {type(student).__name__}.")
        if isinstance(start_step, bool) or int(start_step) != start_step or start_step < 0:
            raise ValueError(
                f"start_step must be a non-negative integer (first optimiser step that updates "
                f"the teacher), got {start_step!r}."
            )
        self.start_step = int(start_step)
        self.schedule = schedule_from_name(momentum)
        self.teacher_train_mode = teacher_train_mode
        self.teacher = copy.deepcopy(_unwrap(student))
        self.teacher.requires_grad_(False)
        self.register_buffer("last_step", torch.tensor(-1, dtype=torch.long))
        self._last_step = -1  # host mirror of last_step: update() never reads the device
        self.register_load_state_dict_pre_hook(_read_last_step)
        object.__setattr__(self, "_student", student)
        self.train(self.training)

    # -- student reference -------------------------------------------------------------------
    @property
    def student(self) -> nn.Module:
        """The online network the teacher follows (not a registered submodule)."""
        return self._student

    @student.setter
    def student(self, module: nn.Module) -> None:
        if not isinstance(module, nn.Module):
            raise ValueError(f"student must be an nn.Module, got {type(module).__name__}.")
        self._pairs(module)  # validates names and shapes
        object.__setattr__(self, "_student", module)

    def restart_from(self, student: nn.Module) -> None:
        """Follow ``student`` from now on, the teacher restarting as its copy.

        Unlike assigning :attr:`student`, the architecture may differ: the experiment layer
        calls this when a shared module replaces the one the teacher was built for (a config's
        placeholder trunk and the shared trunk need not match). Schedule, start step, mode and
        ``last_step`` are kept; the copy follows this module's device and dtype.

        Examples:
            >>> ema = EMATeacher(nn.Linear(2, 2))
            >>> ema.restart_from(nn.Linear(3, 3))
            >>> ema.teacher.weight.shape
            torch.Size([3, 3])
        """
        if not isinstance(student, nn.Module):
            raise ValueError(f"student must be an nn.Module, got {type(student).__name__}.")
        teacher = copy.deepcopy(_unwrap(student))
        teacher.requires_grad_(False)
        self.teacher = teacher.to(self.last_step.device)
        object.__setattr__(self, "_student", student)
        self.train(self.training)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "student":  # nn.Module.__setattr__ would register it as a submodule
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # -- modes -------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> EMATeacher:
        """Set this module's mode; the teacher follows unless ``teacher_train_mode`` pins it."""
        super().train(mode)
        if self.teacher_train_mode is not None:
            self.teacher.train(self.teacher_train_mode)
        return self

    # -- update ------------------------------------------------------------------------------
    def _pairs(self, student: nn.Module) -> tuple[list[tuple[Tensor, Tensor]], ...]:
        """(teacher, student) parameter pairs, float buffer pairs and other buffer pairs."""
        src = _unwrap(student)
        out: list[list[tuple[Tensor, Tensor]]] = [[], [], []]
        for kind, t_named, s_named in (
            ("parameter", self.teacher.named_parameters(), src.named_parameters()),
            ("buffer", self.teacher.named_buffers(), src.named_buffers()),
        ):
            t_map, s_map = dict(t_named), dict(s_named)
            if t_map.keys() != s_map.keys():
                missing = sorted(t_map.keys() - s_map.keys())[:5]
                extra = sorted(s_map.keys() - t_map.keys())[:5]
                raise ValueError(
                    f"student and teacher {kind}s differ: missing in student {missing}, "
                    f"only in student {extra}; the student's architecture changed after the "
                    "EMATeacher was built — build a new EMATeacher."
                )
            for name, t in t_map.items():
                s = s_map[name]
                if t.shape != s.shape:
                    raise ValueError(
                        f"{kind} {name!r}: teacher shape {tuple(t.shape)} != student shape "
                        f"{tuple(s.shape)}; the student changed after the EMATeacher was built."
                    )
                group = 0 if kind == "parameter" else (1 if t.is_floating_point() else 2)
                out[group].append((t, s))
        return tuple(out)

    @torch.no_grad()
    def update(self, step: int, total_steps: int) -> float | None:
        """Move the teacher towards the student once per optimiser step.

        Args:
            step: Index of the optimiser step just taken (e.g. Lightning ``global_step``).
            total_steps: Total optimiser steps ``K`` for the momentum schedule.

        Returns:
            The momentum used, or ``None`` when ``step <= last_step`` (already applied) or
            ``step < start_step`` (delayed start).

        Raises:
            ValueError: If the student no longer matches the teacher (see class docstring).
        """
        step = int(step)
        if step <= self._last_step or step < self.start_step:
            return None
        m = self.schedule(step, total_steps)
        params, float_buffers, other_buffers = self._pairs(self.student)
        self._lerp(params + float_buffers, m)
        for t, s in other_buffers:
            t.copy_(s)
        self._last_step = step
        self.last_step.fill_(step)
        return m

    @staticmethod
    def _lerp(pairs: list[tuple[Tensor, Tensor]], m: float) -> None:
        fast_t, fast_s = [], []
        for t, s in pairs:
            if t.dtype == s.dtype and t.device == s.device:
                fast_t.append(t)
                fast_s.append(s.detach())
            else:  # e.g. a bf16 student with an fp32 teacher
                t.mul_(m).add_(s.detach().to(device=t.device, dtype=t.dtype), alpha=1.0 - m)
        if fast_t:
            torch._foreach_mul_(fast_t, m)
            torch._foreach_add_(fast_t, fast_s, alpha=1.0 - m)

    # -- forward / state ---------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the teacher under ``torch.no_grad()``; tensors in the output are detached."""
        with torch.no_grad():
            return _detach(self.teacher(*args, **kwargs))

    def extra_repr(self) -> str:
        """Schedule and mode in ``print(module)``."""
        text = f"schedule={self.schedule}, teacher_train_mode={self.teacher_train_mode}"
        return text + (f", start_step={self.start_step}" if self.start_step else "")

    def teacher_parameters(self) -> Iterator[nn.Parameter]:
        """The teacher's parameters (all ``requires_grad=False``)."""
        return self.teacher.parameters()


def _read_last_step(
    module: EMATeacher, state_dict: Mapping[str, Any], prefix: str, *args: object
) -> None:
    key = prefix + "last_step"
    if key in state_dict:
        module._last_step = int(state_dict[key])  # checkpoint tensors are usually on the CPU

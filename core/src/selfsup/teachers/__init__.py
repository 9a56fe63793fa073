"""EMA teachers, their momentum schedules, and the step count in-method schedules read.

:class:`EMATeacher` keeps a momentum copy of a student network (BYOL, MoCo, DINO, I-JEPA,
data2vec, GraphMAE2, T-JEPA); :class:`MomentumSchedule` (built with :func:`constant`,
:func:`cosine`, :func:`linear` or :func:`schedule_from_name`) gives its momentum per step;
:class:`TrainingProgress` gives schedules inside a method (DINO's teacher temperature) the
optimiser step; :class:`MemoryQueue` keeps past teacher keys as negatives (MoCo);
:class:`SelfDistillationTeacher` is the whole teacher side of DINO-family methods.
"""

from __future__ import annotations

from selfsup.teachers.ema import DEFAULT_MOMENTUM, EMATeacher
from selfsup.teachers.memory_queue import MemoryQueue
from selfsup.teachers.progress import TrainingProgress
from selfsup.teachers.schedules import (
    MOMENTUM_KINDS,
    MomentumSchedule,
    constant,
    cosine,
    linear,
    schedule_from_name,
)
from selfsup.teachers.self_distillation import SelfDistillationTeacher

__all__ = [
    "DEFAULT_MOMENTUM",
    "MOMENTUM_KINDS",
    "EMATeacher",
    "MemoryQueue",
    "MomentumSchedule",
    "SelfDistillationTeacher",
    "TrainingProgress",
    "constant",
    "cosine",
    "linear",
    "schedule_from_name",
]

"""Momentum schedules for EMA teachers (BYOL, arXiv 2006.07733; I-JEPA, arXiv 2301.08243).

A schedule is a frozen dataclass of simple types (``kind``, ``base``, ``final``), so it round-trips
through YAML/jsonargparse configs and checkpoints; calling it returns a Python ``float``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "MOMENTUM_KINDS",
    "MomentumSchedule",
    "constant",
    "cosine",
    "linear",
    "schedule_from_name",
]

MOMENTUM_KINDS: tuple[str, ...] = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class MomentumSchedule:
    """EMA momentum ``tau_k`` as a function of the optimiser step ``k`` and the total ``K``.

    .. math::

        \\text{constant:}\\ \\tau_k = \\tau_{base}

        \\text{cosine (BYOL):}\\ \\tau_k = \\tau_{final}
            - (\\tau_{final} - \\tau_{base}) \\frac{\\cos(\\pi \\bar k / K) + 1}{2}

        \\text{linear (I-JEPA):}\\ \\tau_k = \\tau_{base}
            + (\\tau_{final} - \\tau_{base}) \\bar k / K

    with ``k_bar = min(k, K)``: ``tau_0 = base``, ``tau_K = final`` and every later step stays at
    ``final``. (lightly's ``cosine_schedule`` divides by ``K - 1`` so the last executed step
    ``K - 1`` reaches ``final``; pass ``total_steps - 1`` for that behaviour.) ``K`` is the number
    of optimiser steps (Lightning: ``trainer.estimated_stepping_batches``), not of micro-batches.

    Args:
        kind: ``"constant"``, ``"cosine"`` or ``"linear"``.
        base: ``tau`` at step 0, in ``[0, 1]`` (default 0.996, BYOL/I-JEPA).
        final: ``tau`` at step ``K``, in ``[0, 1]`` (default 1.0; ignored by ``constant``).

    Raises:
        ValueError: On an unknown kind or a momentum outside ``[0, 1]``.

    Example:
        >>> sched = MomentumSchedule("cosine", 0.996, 1.0)
        >>> sched(0, 100), sched(100, 100)
        (0.996, 1.0)
    """

    kind: str = "cosine"
    base: float = 0.996
    final: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in MOMENTUM_KINDS:
            raise ValueError(f"kind must be one of {MOMENTUM_KINDS}, got {self.kind!r}.")
        for name in ("base", "final"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a float, got {type(value).__name__}.")
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"{name} momentum must lie in [0, 1], got {value}; 1 freezes the teacher, "
                    "0 copies the student."
                )
            object.__setattr__(self, name, float(value))

    def __call__(self, step: int, total_steps: int) -> float:
        """Momentum for optimiser step ``step`` of ``total_steps``.

        Args:
            step: Optimiser step ``k >= 0``; values above ``total_steps`` are clamped.
            total_steps: ``K >= 1``.

        Returns:
            ``tau_k`` as a Python float.

        Raises:
            ValueError: If ``step < 0`` or ``total_steps < 1``.
        """
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}.")
        if total_steps < 1:
            raise ValueError(
                f"total_steps must be >= 1, got {total_steps}; pass the number of optimiser "
                "steps (e.g. trainer.estimated_stepping_batches)."
            )
        if self.kind == "constant":
            return self.base
        progress = min(step, total_steps) / total_steps
        if self.kind == "linear":
            return float(self.base + (self.final - self.base) * progress)
        weight = (math.cos(math.pi * progress) + 1.0) / 2.0
        return float(self.final - (self.final - self.base) * weight)


def constant(momentum: float = 0.996) -> MomentumSchedule:
    """Fixed momentum ``tau_k = momentum`` (MoCo: 0.999; GraphMAE2 Cora: 0)."""
    return MomentumSchedule("constant", momentum, momentum)


def cosine(base: float = 0.996, final: float = 1.0) -> MomentumSchedule:
    """BYOL cosine increase from ``base`` to ``final`` (solo-learn ``MomentumUpdater``)."""
    return MomentumSchedule("cosine", base, final)


def linear(base: float = 0.996, final: float = 1.0) -> MomentumSchedule:
    """I-JEPA / T-JEPA linear increase from ``base`` to ``final`` over ``K`` steps."""
    return MomentumSchedule("linear", base, final)


def schedule_from_name(spec: str | float | MomentumSchedule) -> MomentumSchedule:
    """Build a schedule from a config value.

    Accepted forms: a number (constant momentum), a :class:`MomentumSchedule` (returned as is),
    ``"<kind>"`` (defaults), ``"<kind>:<base>"`` or ``"<kind>:<base>:<final>"``, e.g.
    ``"cosine:0.99:1.0"`` or ``"constant:0.999"``.

    Raises:
        ValueError: On an unknown kind or a malformed string.
    """
    if isinstance(spec, MomentumSchedule):
        return spec
    if isinstance(spec, bool):
        raise ValueError(f"momentum must be a float, a schedule or a name, got {spec!r}.")
    if isinstance(spec, int | float):
        return constant(float(spec))
    if not isinstance(spec, str):
        raise ValueError(
            f"momentum must be a float, a MomentumSchedule or a name, got {type(spec).__name__}."
        )
    kind, *values = (part.strip() for part in spec.strip().lower().split(":"))
    if kind not in MOMENTUM_KINDS or len(values) > (1 if kind == "constant" else 2):
        raise ValueError(
            f"unknown momentum schedule {spec!r}; use a number or one of "
            f"{', '.join(MOMENTUM_KINDS)} optionally followed by ':base[:final]' "
            "(e.g. 'cosine:0.996:1.0')."
        )
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"momentum schedule {spec!r} has a non-numeric value.") from None
    factory = {"constant": constant, "cosine": cosine, "linear": linear}[kind]
    return factory(*numbers)

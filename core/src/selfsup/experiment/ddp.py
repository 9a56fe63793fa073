"""What DistributedDataParallel has to know about an experiment before it wraps the model.

DDP's default (``find_unused_parameters=False``) stops a run at the step after a trainable
parameter got no gradient ("Expected to have finished reduction in the prior iteration ...").
Whether that can happen is a property of the experiment, not of the launch command, so
:class:`~selfsup.experiment.SSLModule` answers it here, in one place, from its own settings and
each method's :meth:`~selfsup.experiment.Method.unused_parameters_reason`: users pass
``--trainer.strategy ddp`` and never need ``ddp_find_unused_parameters_true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities.rank_zero import rank_zero_info

__all__ = ["unused_parameter_reasons", "configure_ddp"]


def unused_parameter_reasons(
    tasks: Mapping[str, Any], sampling: str = "all", loader_mode: str = "max_size_cycle"
) -> list[str]:
    """Why a step of this experiment may leave trainable parameters without a gradient.

    Args:
        tasks: Task name -> :class:`~selfsup.experiment.Task` (its ``method`` is asked).
        sampling: :class:`~selfsup.experiment.SSLModule`'s task sampling policy.
        loader_mode: Its ``loader_mode``.

    Returns:
        One sentence per reason; empty when every step trains every parameter.

    Examples:
        >>> unused_parameter_reasons({"a": None, "b": None}, sampling="round_robin")
        ["sampling='round_robin' trains one task per step"]
    """
    reasons = []
    several = len(tasks) > 1
    if several and sampling != "all":
        reasons.append(f"sampling={sampling!r} trains one task per step")
    if several and loader_mode == "max_size":
        reasons.append("loader_mode='max_size' lets exhausted tasks sit out")
    for name, task in tasks.items():
        ask = getattr(getattr(task, "method", None), "unused_parameters_reason", None)
        why = ask() if callable(ask) else None
        if why:
            reasons.append(f"task {name!r}: {why}")
    return reasons


def configure_ddp(strategy: Any, reasons: list[str]) -> bool:
    """Turn on ``find_unused_parameters`` of a not-yet-wrapping DDP strategy when ``reasons``.

    A choice the user made (``ddp_find_unused_parameters_false``/``_true`` or
    ``DDPStrategy(find_unused_parameters=...)``) is kept; so is every other strategy.

    Returns:
        ``True`` when the setting was turned on here.

    Examples:
        >>> from lightning.pytorch.strategies import DDPStrategy
        >>> configure_ddp(DDPStrategy(), ["a branch per step"])
        True
        >>> configure_ddp(DDPStrategy(find_unused_parameters=False), ["a branch per step"])
        False
    """
    if not reasons or not isinstance(strategy, DDPStrategy):
        return False
    # Lightning keeps the DistributedDataParallel keyword arguments here until setup() wraps
    # the model; tests/experiment/test_ddp.py fails if a Lightning release renames it.
    kwargs = strategy._ddp_kwargs
    if "find_unused_parameters" in kwargs:
        return False
    kwargs["find_unused_parameters"] = True
    rank_zero_info(
        "DDP: find_unused_parameters=True because " + "; ".join(reasons) + ". "
        "Pass --trainer.strategy ddp_find_unused_parameters_false to refuse it."
    )
    return True

"""Optimiser parameter groups of an experiment: what methods ask for, and weight-decay rules.

:class:`~selfsup.experiment.SSLModule` builds its optimiser from these; a hand-written training
loop can use the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from selfsup.experiment.task import Task

__all__ = ["NO_DECAY_RULES", "method_param_groups", "split_weight_decay"]

#: ``no_weight_decay`` rules: no decay on ``ndim <= 1`` parameters, or decay everywhere.
NO_DECAY_RULES = ("bias_and_norm", "none")


def split_weight_decay(
    module: nn.Module, rule: str = "bias_and_norm", skip: set[int] | None = None
) -> list[dict[str, Any]]:
    """Parameter groups of the trainable parameters (except those whose ``id`` is in ``skip``).

    ``"bias_and_norm"``: no weight decay on parameters with ``ndim <= 1`` (biases, normalisation
    and PReLU weights); ``"none"``: every parameter in one group with the optimiser's decay.

    Examples:
        >>> groups = split_weight_decay(nn.Linear(3, 2))
        >>> [len(g["params"]) for g in groups], groups[1]["weight_decay"]
        ([1, 1], 0.0)
    """
    decay, no_decay = [], []
    for _, param in module.named_parameters():
        if not param.requires_grad or (skip is not None and id(param) in skip):
            continue
        (no_decay if rule == "bias_and_norm" and param.ndim <= 1 else decay).append(param)
    groups: list[dict[str, Any]] = [{"params": decay}] if decay else []
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def method_param_groups(tasks: Mapping[str, Task]) -> tuple[list[dict[str, Any]], set[int]]:
    """The groups methods ask for (``Method.optimizer_groups``) and the parameters they claim.

    A module shared by several tasks belongs to the first task that claims it; a group may scale
    the learning rate (``lr_scale``) but not set it.

    Raises:
        ValueError: a group sets ``"lr"``.
    """
    groups: list[dict[str, Any]] = []
    claimed: set[int] = set()
    for name, task in tasks.items():
        asked = task.method.optimizer_groups()
        for group in asked or []:
            if "lr" in group:
                raise ValueError(
                    f"task {name!r}: {type(task.method).__name__}.optimizer_groups() sets 'lr'; "
                    "give 'lr_scale' (a factor of the optimiser's learning rate) instead."
                )
            # a module shared by two tasks belongs to the first task that claims it
            params = [p for p in group["params"] if p.requires_grad and id(p) not in claimed]
            claimed.update(id(p) for p in params)
            if params:
                groups.append({**group, "params": params})
    return groups, claimed

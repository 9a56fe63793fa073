"""``TrainingProgress``: where training stands, for schedules that live inside a method.

DINO's teacher temperature warms up over the first part of training, its last layer stays
frozen for the first steps; such schedules need the optimiser step and the planned total inside
``training_losses``. A method holds a :class:`TrainingProgress`; the experiment layer advances
it after every optimiser step, together with the EMA teachers (``TeacherUpdates``,
``Method.update_teacher``), and it is saved in the state dict, so a resumed run continues the
schedule where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["TrainingProgress"]


class TrainingProgress(nn.Module):
    """The number of optimiser steps taken and the planned total, as persistent buffers.

    :attr:`step` is the number of optimiser steps already taken, i.e. the index of the step
    being computed in ``training_losses`` (0 for the first); :attr:`total` is the planned number
    (Lightning's ``estimated_stepping_batches``; 0 until the first update). Both are read from
    host mirrors, so reading them never waits for the device.

    Examples:
        >>> progress = TrainingProgress()
        >>> progress.advance(1, 100)  # after the first optimiser step of 100
        >>> progress.step, progress.total, progress.fraction
        (1, 100, 0.01)
    """

    steps_done: Tensor
    steps_total: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("steps_done", torch.tensor(0, dtype=torch.long))
        self.register_buffer("steps_total", torch.tensor(0, dtype=torch.long))
        self._step = 0
        self._total = 0
        self.register_load_state_dict_pre_hook(_read_mirrors)

    @property
    def step(self) -> int:
        """Optimiser steps taken."""
        return self._step

    @property
    def total(self) -> int:
        """Planned optimiser steps (0: not known yet)."""
        return self._total

    @property
    def fraction(self) -> float:
        """``step / total`` in ``[0, 1]`` (0 while the total is unknown)."""
        return min(1.0, self._step / self._total) if self._total > 0 else 0.0

    def advance(self, step: int, total_steps: int) -> None:
        """Record that optimiser step ``step`` (1-based count) of ``total_steps`` is done.

        Repeated calls for one step (micro-batches under gradient accumulation) change nothing.
        """
        step, total = int(step), int(total_steps)
        if step < self._step:
            return
        self._step, self._total = step, total
        self.steps_done.fill_(step)
        self.steps_total.fill_(total)

    def extra_repr(self) -> str:
        return f"step={self._step}, total={self._total}"


def _read_mirrors(
    module: TrainingProgress, state_dict: Mapping[str, Any], prefix: str, *args: object
) -> None:
    if prefix + "steps_done" in state_dict:
        module._step = int(state_dict[prefix + "steps_done"])
    if prefix + "steps_total" in state_dict:
        module._total = int(state_dict[prefix + "steps_total"])

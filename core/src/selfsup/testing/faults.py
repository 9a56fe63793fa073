"""Fault injection for reliability tests: end a training process abruptly at a chosen step."""

from __future__ import annotations

import os
import signal
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

__all__ = ["KillAtStep", "RaiseAtStep", "StepInterrupted"]


class KillAtStep(Callback):
    """Sends the training process ``SIGKILL`` when the trainer is about to run step ``step``.

    Nothing gets to clean up — no exception handler, no ``finally``, no checkpoint on exit —
    which is what a preempted or OOM-killed job looks like. Use it in a subprocess
    (``selfsup fit --config ... --trainer.callbacks+=selfsup.testing.faults.KillAtStep``) and
    resume from the checkpoints it left behind.

    Args:
        step: Global step (optimiser steps taken so far) at which the process dies.
    """

    def __init__(self, step: int) -> None:
        if isinstance(step, bool) or int(step) < 0:
            raise ValueError(f"step must be a non-negative int, got {step!r}.")
        self.step = int(step)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            self.stop()

    def stop(self) -> None:
        """End the run: ``SIGKILL`` to this process."""
        os.kill(os.getpid(), signal.SIGKILL)


class StepInterrupted(RuntimeError):
    """What :class:`RaiseAtStep` raises."""


class RaiseAtStep(KillAtStep):
    """Raises :class:`StepInterrupted` when the trainer is about to run step ``step``.

    The in-process stand-in for :class:`KillAtStep`: the run stops before that step and the
    checkpoints written so far stay (a test then resumes from them in the same process; under
    ``ddp_spawn`` the exception reaches the launching process).

    Args:
        step: Global step (optimiser steps taken so far) at which the run stops.

    Examples:
        >>> RaiseAtStep(10).step
        10
    """

    def stop(self) -> None:
        """End the run: raise :class:`StepInterrupted`."""
        raise StepInterrupted(f"interrupted at step {self.step}")

"""EMA teachers follow their students after every optimiser step, before checkpoints are written."""

from __future__ import annotations

import math
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from selfsup.teachers import EMATeacher, TrainingProgress

__all__ = ["TeacherUpdates"]


class TeacherUpdates(Callback):
    """Updates every :class:`~selfsup.teachers.EMATeacher` inside the module after each step,
    and advances every :class:`~selfsup.teachers.TrainingProgress` (in-method schedules).

    Teachers move once per optimiser step (``EMATeacher.update`` ignores repeated calls for a
    step, so gradient accumulation's micro-batches are harmless), with the momentum schedule they
    were built with over ``trainer.estimated_stepping_batches`` steps.

    A callback rather than the module's ``on_train_batch_end``: Lightning runs callbacks' batch-end
    hooks before the module's and always puts ``ModelCheckpoint`` last among callbacks, so the
    teacher state written with step ``k``'s checkpoint already includes step ``k``'s update and a
    resumed run continues exactly. :class:`~selfsup.experiment.SSLModule` attaches it itself.
    """

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step == 0:  # no optimiser step yet (first micro-batches under accumulation)
            return
        total = trainer.estimated_stepping_batches
        horizon = int(total) if math.isfinite(total) else 2**62
        for module in pl_module.modules():
            if isinstance(module, TrainingProgress):
                module.advance(step, horizon)
            elif isinstance(module, EMATeacher):
                momentum = module.update(step, horizon)
                if momentum is not None:
                    pl_module.log("train/ema_momentum", momentum, batch_size=1)

"""TrainingProgress: advanced once per optimiser step by the experiment layer, resumable."""

from __future__ import annotations

import torch
from torch import nn

from selfsup.experiment import SSLModule, Task
from selfsup.teachers import TrainingProgress
from selfsup.testing.boring import BoringDataModule, BoringMethod, quiet_trainer


class _Clocked(BoringMethod):
    def __init__(self) -> None:
        super().__init__()
        self.progress = TrainingProgress()
        self.seen: list[tuple[int, int]] = []

    def training_losses(self, batch):
        self.seen.append((self.progress.step, self.progress.total))
        return super().training_losses(batch)


def test_progress_counts_steps_and_ignores_repeats_and_the_past() -> None:
    progress = TrainingProgress()
    assert (progress.step, progress.total, progress.fraction) == (0, 0, 0.0)
    progress.advance(3, 12)
    progress.advance(2, 12)  # an older step (a repeated micro-batch call) changes nothing
    assert (progress.step, progress.total, progress.fraction) == (3, 12, 0.25)
    restored = TrainingProgress()
    restored.load_state_dict(progress.state_dict())
    assert (restored.step, restored.total) == (3, 12)
    assert "step=3, total=12" in repr(restored)


def test_the_experiment_layer_advances_it_after_every_optimiser_step() -> None:
    method = _Clocked()
    trainer = quiet_trainer(max_steps=4, max_epochs=-1)
    trainer.fit(SSLModule([Task("t", method, BoringDataModule())]))
    assert method.seen == [(0, 0), (1, 4), (2, 4), (3, 4)]
    assert method.progress.step == 4
    hand = _Clocked()
    hand.update_teacher(step=1, total_steps=10)  # hand-written loops
    assert (hand.progress.step, hand.progress.total) == (1, 10)
    assert isinstance(hand.progress, nn.Module) and torch.equal(
        hand.progress.steps_done, torch.tensor(1)
    )

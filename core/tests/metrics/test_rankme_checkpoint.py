"""RankMeCheckpoint keeps the checkpoint whose logged RankMe is highest."""

from __future__ import annotations

import pytest
import torch

from selfsup.experiment import SSLModule
from selfsup.metrics import RankMeCheckpoint, RankMeMonitor
from selfsup.testing.boring import boring_task, quiet_trainer


class _Recorder(RankMeMonitor):
    """RankMeMonitor that also remembers what it logged, step by step."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seen: dict[int, float] = {}

    def _log(self, pl_module) -> None:
        super()._log(pl_module)
        value = pl_module.trainer.callback_metrics.get("boring/rankme")
        if value is not None:
            self.seen[pl_module.trainer.global_step] = float(value)


def test_keeps_the_highest_rankme_checkpoint(tmp_path) -> None:
    monitor = _Recorder(every_n_steps=2, max_samples=64)
    keeper = RankMeCheckpoint("boring", every_n_train_steps=2, dirpath=tmp_path, save_top_k=1)
    trainer = quiet_trainer(max_steps=12, enable_checkpointing=True, callbacks=[monitor, keeper])
    trainer.fit(SSLModule([boring_task()]))
    assert len(monitor.seen) >= 4
    best = max(monitor.seen.values())
    assert float(keeper.best_model_score) == pytest.approx(best)
    saved = list(tmp_path.glob("*.ckpt"))
    assert len(saved) == 1 and f"rankme{best:.2f}" in saved[0].name
    state = torch.load(saved[0], weights_only=True)
    assert state["global_step"] in monitor.seen


def test_refuses_overriding_what_it_decides() -> None:
    with pytest.raises(ValueError, match="sets monitor itself"):
        RankMeCheckpoint("t", monitor="val/loss")
    with pytest.raises(ValueError, match="without '/'"):
        RankMeCheckpoint("a/b")

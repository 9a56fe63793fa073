"""Two DDP processes: a run killed mid-epoch resumes from its checkpoint to the weights of the
uninterrupted run (each rank's loader position and the shared step seeds survive the restart)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from selfsup.experiment import SSLModule, Task
from selfsup.testing.boring import BoringDataModule, BoringMethod, quiet_trainer
from selfsup.testing.faults import RaiseAtStep

pytestmark = pytest.mark.distributed


def _fit(root: Path, kill_at: int | None = None, ckpt: Path | None = None) -> dict:
    seed_everything(0)
    module = SSLModule(
        [Task("v", BoringMethod(), BoringDataModule(num_samples=96, batch_size=4))],
        exact_resume=True,
        sampling_seed=3,
    )
    checkpoint = ModelCheckpoint(dirpath=root, every_n_train_steps=4, save_last=True)
    trainer = quiet_trainer(
        max_epochs=2,
        max_steps=-1,
        deterministic=True,
        enable_checkpointing=True,
        strategy="ddp_spawn",
        accelerator="cpu",
        devices=2,
        callbacks=[checkpoint] + ([RaiseAtStep(kill_at)] if kill_at else []),
        default_root_dir=root,
    )
    trainer.fit(module, ckpt_path=ckpt)
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_a_killed_ddp_run_resumes_to_the_uninterrupted_weights(tmp_path: Path) -> None:
    # 96 samples, 2 ranks, batches of 4: 12 steps per epoch; killed at step 18, the last
    # checkpoint is step 16, mid-way through the second epoch
    expected = _fit(tmp_path / "reference")
    seed_everything(0)
    initial = BoringMethod().state_dict()
    # the trained weights come back from the ranks (ddp_spawn): the comparison is of trained ones
    assert any(not torch.equal(v, expected[f"tasks.v.method.{k}"]) for k, v in initial.items())
    with pytest.raises(Exception, match="interrupted at step 18"):
        _fit(tmp_path / "killed", kill_at=18)
    last = tmp_path / "killed" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 16
    got = _fit(tmp_path / "killed", ckpt=last)
    for key, value in expected.items():
        assert torch.equal(value, got[key]), key

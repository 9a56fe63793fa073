"""Checkpoints of SSLModule runs are written atomically (a failed save keeps the previous file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fsspec.implementations.local import LocalFileOpener

from selfsup.experiment import SSLModule
from selfsup.testing.boring import boring_task, quiet_trainer


def test_interrupted_save_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch) -> None:
    module = SSLModule([boring_task("a", seed=0), boring_task("b", seed=1)])
    trainer = quiet_trainer(max_steps=2)
    trainer.fit(module)
    last = tmp_path / "last.ckpt"
    trainer.save_checkpoint(last)
    good = last.read_bytes()

    with torch.no_grad():  # a later state, so a completed save would change the file
        for p in module.parameters():
            p.add_(1.0)

    real_write = LocalFileOpener.write

    def crash_half_way(self, data):  # the disk fills up / the job is killed mid-write
        real_write(self, data[: len(data) // 2])
        raise OSError("simulated crash while writing the checkpoint")

    monkeypatch.setattr(LocalFileOpener, "write", crash_half_way)
    with pytest.raises(OSError, match="simulated crash"):
        trainer.save_checkpoint(last)
    monkeypatch.undo()

    assert last.read_bytes() == good  # untouched, not half-written
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    restored = SSLModule([boring_task("a", seed=0), boring_task("b", seed=1)])
    restored.load_state_dict(state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no stray temp file

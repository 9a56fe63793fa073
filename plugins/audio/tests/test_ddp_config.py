"""audio:beats_iter1_fsdd, the audio plugin's main config, trains on two DDP processes (gloo)."""

from __future__ import annotations

import math

import pytest

from selfsup.testing.ddp_fit import fit_on_processes, shipped_config, task_init_args

pytestmark = pytest.mark.distributed


def test_beats_iter1_config_trains_on_two_processes(tmp_path, recordings) -> None:
    config = shipped_config("audio:beats_iter1_fsdd")
    _, data = task_init_args(config)
    data["batch_size"] = 4  # the generated folder holds 14 training clips
    run = fit_on_processes(config, tmp_path / "run", env={"SELFSUP_DATA": str(recordings)})
    assert math.isfinite(run.last("train/fsdd/loss"))
    assert 0.0 <= run.last("fsdd/linear_acc") <= 1.0
    # the config's checkpoint callback wrote the file the next BEATs stage reads
    assert (tmp_path / "run" / "outputs" / "beats_fsdd" / "iter1" / "last.ckpt").is_file()

"""tabular:tjepa_adult, the tabular plugin's main config, trains on two DDP processes (gloo)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selfsup.testing.ddp_fit import fit_on_processes, shipped_config, task_init_args

pytestmark = pytest.mark.distributed


def _adult_like(path, rows: int = 160) -> None:
    # Adult's layout: no header, numbers and categories, the label last
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(rows):
        age, hours = rng.integers(18, 80), rng.integers(10, 60)
        work = rng.choice(["Private", "State-gov", "?"])
        label = ">50K" if age + hours + rng.normal(0, 10) > 85 else "<=50K"
        lines.append(f"{age}, {work}, {hours}, {label}")
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")


def test_tjepa_adult_config_trains_on_two_processes(tmp_path) -> None:
    _adult_like(tmp_path / "data" / "adult" / "adult.data")
    config = shipped_config("tabular:tjepa_adult")
    _, data = task_init_args(config)
    data["batch_size"] = 16
    run = fit_on_processes(config, tmp_path / "run", env={"SELFSUP_DATA": str(tmp_path / "data")})
    assert math.isfinite(run.last("train/adult/loss"))
    assert 0.0 <= run.last("adult/linear_acc") <= 1.0
    assert run.last("adult/rankme") >= 1.0


def test_tjepa_adult_config_trains_fully_sharded_on_two_processes(tmp_path) -> None:
    # FSDP2 through Lightning's ModelParallelStrategy: SSLModule shards each transformer block
    # (student and EMA target) as its own unit and each method as a whole
    _adult_like(tmp_path / "data" / "adult" / "adult.data")
    config = shipped_config("tabular:tjepa_adult")
    _, data = task_init_args(config)
    data["batch_size"] = 16
    config["trainer"]["strategy"] = {
        "class_path": "lightning.pytorch.strategies.ModelParallelStrategy",
        "init_args": {"data_parallel_size": 2, "tensor_parallel_size": 1},
    }
    run = fit_on_processes(
        config,
        tmp_path / "run",
        strategy=None,
        env={"SELFSUP_DATA": str(tmp_path / "data")},
    )
    assert math.isfinite(run.last("train/adult/loss"))
    assert 0.0 <= run.last("adult/linear_acc") <= 1.0

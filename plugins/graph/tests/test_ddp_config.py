"""graph:graphmae_cora, the graph plugin's main config, trains on two DDP processes (gloo)."""

from __future__ import annotations

import math

import pytest

from selfsup.testing.ddp_fit import fit_on_processes, shipped_config, task_init_args

pytestmark = pytest.mark.distributed


def test_graphmae_cora_config_trains_on_two_processes(tmp_path, tiny_planetoid) -> None:
    tiny_planetoid(tmp_path / "data" / "Cora" / "raw")
    config = shipped_config("graph:graphmae_cora")
    method, data = task_init_args(config)
    method["in_channels"] = 4  # the generated graph's features; the rest is the paper's model
    data.update(
        root=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), trust_pickle_files=True
    )
    for callback in config["trainer"]["callbacks"]:
        for probe in callback["init_args"].get("probes", []):
            probe["init_args"]["epochs"] = 20
    run = fit_on_processes(config, tmp_path / "run")
    assert math.isfinite(run.last("train/cora/loss"))
    assert 0.0 <= run.last("cora/probe_test_acc") <= 1.0

"""vision:simclr_cifar10, the vision plugin's main config, trains on two DDP processes (gloo)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from selfsup.testing.ddp_fit import fit_on_processes, shipped_config, task_init_args

pytestmark = pytest.mark.distributed


def _cifar_like(root, per_class: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    for split, count in per_class.items():
        for label, tint in (("cat", 40), ("ship", 200)):
            folder = root / "cifar10-jpg" / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(tint, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg")


def test_simclr_cifar10_config_trains_on_two_processes(tmp_path) -> None:
    _cifar_like(tmp_path / "data", {"train": 16, "test": 6})
    config = shipped_config("vision:simclr_cifar10")
    _, data = task_init_args(config)
    data["batch_size"] = 8  # ResNet-18 as configured; a small batch keeps CPU steps short
    for callback in config["trainer"]["callbacks"]:
        if callback["class_path"].endswith("ProbeMonitor"):
            callback["init_args"]["k"] = 5
    run = fit_on_processes(config, tmp_path / "run", env={"SELFSUP_DATA": str(tmp_path / "data")})
    assert math.isfinite(run.last("train/cifar10/loss"))
    assert 0.0 <= run.last("cifar10/knn_acc") <= 1.0
    assert run.last("cifar10/rankme") >= 1.0

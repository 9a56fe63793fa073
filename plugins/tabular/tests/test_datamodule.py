"""TabularCSVDataModule: data root, splits fitted on train only, and a Lightning fit smoke test."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer

from selfsup.experiment import SSLModule, Task
from selfsup_tabular.data import TabularCSVDataModule, default_data_root
from selfsup_tabular.methods import TJEPA


def _write(path, rows: int = 40, seed: int = 0, sep: str = ";") -> None:
    rng = np.random.default_rng(seed)
    lines = ["age;job;hours;label".replace(";", sep)]
    for _ in range(rows):
        job = rng.choice(["a", "b", "?"])
        age = "" if rng.random() < 0.1 else f"{rng.integers(18, 80)}"
        label = rng.choice(["yes", "no"])
        lines.append(sep.join([age, job, f"{rng.normal():.3f}", label]))
    path.write_text("\n".join(lines) + "\n")


def test_data_root_comes_from_selfsup_data_and_missing_files_explain(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SELFSUP_DATA", str(tmp_path))
    assert default_data_root() == str(tmp_path)
    dm = TabularCSVDataModule(path="nope.csv")
    with pytest.raises(FileNotFoundError, match="SELFSUP_DATA"):
        dm.setup("fit")
    monkeypatch.delenv("SELFSUP_DATA")
    assert default_data_root().endswith("shared/data")


def test_splits_and_preprocessing_fit_on_training_rows_only(tmp_path) -> None:
    _write(tmp_path / "train.csv")
    _write(tmp_path / "test.csv", rows=10, seed=1)
    dm = TabularCSVDataModule(
        path="train.csv",
        target="label",
        data_root=str(tmp_path),
        test_path="test.csv",
        val_fraction=0.25,
        batch_size=8,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm.setup("fit")
    assert dm.preprocessor.feature_names == ["age", "hours", "job"]
    sizes = {k: v["x_num"].shape[0] for k, v in dm.splits.items()}
    assert sizes == {"train": 30, "val": 10, "test": 10}
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x_num", "num_missing", "x_cat", "y"} and batch["y"].shape == (8,)
    inputs, labels = next(iter(dm.probe_dataloaders()[1]))
    assert "y" not in inputs and labels.dtype == torch.long
    with pytest.raises(KeyError, match="not found"):
        TabularCSVDataModule(path="train.csv", target="missing", data_root=str(tmp_path)).setup()


def test_selfsup_fit_materialises_the_method_and_saves_the_transform(tmp_path) -> None:
    _write(tmp_path / "t.csv", sep=",")
    dm = TabularCSVDataModule(path="t.csv", target=-1, data_root=str(tmp_path), batch_size=8)
    method = TJEPA(
        d_token=8,
        num_heads=2,
        ffn_dim=8,
        encoder_layers=1,
        predictor_dim=8,
        predictor_layers=1,
        predictor_heads=2,
    )
    module = SSLModule(Task("t", method=method, data=dm))
    trainer = Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    assert method.materialized and method.preprocessing.fitted
    assert method.target.last_step.item() == 2  # EMA updated by SSLModule
    state = module.state_dict()
    assert state["tasks.t.method.preprocessing._extra_state"]["numerical"][0]["name"] == "age"


def test_shipped_config_builds_an_unmaterialised_tjepa(tmp_path) -> None:
    from selfsup.cli.lightning import run_lightning_cli

    config = Path(__file__).resolve().parents[1] / "configs" / "tjepa_adult.yaml"
    args = ["--config", str(config), f"--trainer.default_root_dir={tmp_path}"]
    cli = run_lightning_cli(args, run=False)
    task = cli.model.tasks["adult"]
    assert isinstance(task.method, TJEPA) and not task.method.materialized
    assert isinstance(task.data, TabularCSVDataModule) and task.data.header is False

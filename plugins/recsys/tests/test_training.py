"""End to end on synthetic data: data module batches, Lightning fit with the retrieval monitor,
checkpoint -> serving embeddings, and the shipped config."""

from __future__ import annotations

import glob
import warnings
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from selfsup.experiment import SSLModule, Task
from selfsup.metrics import ProbeMonitor
from selfsup.plugins.configs import find_config
from selfsup_recsys.data import InteractionDataModule
from selfsup_recsys.data.synthetic import synthetic_interactions
from selfsup_recsys.evaluation import RetrievalProbe
from selfsup_recsys.methods import FeatureTwoTower
from selfsup_recsys.serving import export_embeddings, load_two_tower


def _module(tmp_path: Path, **kwargs: object) -> InteractionDataModule:
    inter, items, users = synthetic_interactions(num_users=40, num_items=30, per_user=6)
    inter.to_csv(tmp_path / "inter.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    users.to_csv(tmp_path / "users.csv", index=False)
    base = {
        "dataset": "interactions",
        "path": "inter.csv",
        "data_root": str(tmp_path),
        "item_features_path": "items.csv",
        "user_features_path": "users.csv",
        "item_columns": {"genres": "bag", "decade": "categorical", "price": "numeric"},
        "user_columns": {"age": "categorical"},
        "min_count": 1,
        "batch_size": 16,
        "ssl_batch_size": 8,
    }
    return InteractionDataModule(**{**base, **kwargs})  # type: ignore[arg-type]


def test_batches_have_uniform_ssl_items_and_no_singleton_eval_batches(tmp_path: Path) -> None:
    dm = _module(tmp_path, logq_counts=True)
    dm.setup("fit")
    train = list(dm.train_dataloader())
    assert len(train) == len(dm.load().train) // 16
    first = train[0]
    assert first["ssl_item"]["item_id"].unique().numel() == 8  # without replacement
    assert first["item_log_prob"].shape == (16,) and bool((first["item_log_prob"] < 0).all())
    sizes = [len(b["item_ids"]) for b in dm.val_dataloader()]
    assert sum(sizes) == 40 and min(sizes) >= 2
    with pytest.raises(ValueError, match="dataset must be"):
        InteractionDataModule(dataset="ml-1m")
    with pytest.raises(FileNotFoundError, match="SELFSUP_DATA"):
        InteractionDataModule(data_root=str(tmp_path / "none")).load()


def test_fit_monitor_checkpoint_and_serving(tmp_path: Path) -> None:
    dm = _module(tmp_path)
    method = FeatureTwoTower(
        embedding_dim=4, hidden_dims=[8], output_dim=4, ssl="cfm", frequency_buckets=64
    )
    module = SSLModule([Task("ml", method, dm)], optimizer=lambda p: torch.optim.Adam(p, lr=0.01))
    monitor = ProbeMonitor(probes=[RetrievalProbe(head_fraction=0.2)])
    trainer = Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, callbacks=[monitor],
        default_root_dir=str(tmp_path),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    assert method.materialized and bool(method.feature_mi_ready)
    assert set(monitor.results["ml"]) >= {"val/recall@10", "val/tail/recall@50", "val/head/ndcg@10"}
    want = dm.evaluate(method, "val", head_fraction=0.2)  # the probe reports the split's metrics
    assert monitor.results["ml"]["val/recall@50"] == pytest.approx(want["recall@50"])
    assert trainer.callback_metrics["ml/val/recall@50"] == pytest.approx(want["recall@50"])
    assert int(method.frequency.step) == 2 * len(dm.train_dataloader())
    ckpt = glob.glob(str(tmp_path / "**" / "*.ckpt"), recursive=True)[0]
    served = load_two_tower(ckpt)
    out = export_embeddings(served, dm.load())
    assert out["item"].shape == (30, 4) and out["query"].shape == (40, 4)
    with torch.no_grad():
        torch.testing.assert_close(out["item"], export_embeddings(method, dm.load())["item"])
    with pytest.raises(ValueError, match="pass task="):
        load_two_tower(ckpt, task="other")


def test_shipped_config_builds(tmp_path: Path) -> None:
    from selfsup.cli.lightning import run_lightning_cli

    config = find_config("recsys:two_tower_ml100k")
    cli = run_lightning_cli(
        ["--config", str(config), f"--trainer.default_root_dir={tmp_path}"], run=False
    )
    task = cli.model.tasks["movielens"]
    assert isinstance(task.method, FeatureTwoTower) and task.method.ssl == "cfm"
    assert isinstance(task.data, InteractionDataModule) and task.data.train_fraction == 1.0
    assert not task.method.materialized  # bind_data materialises it in SSLModule.setup

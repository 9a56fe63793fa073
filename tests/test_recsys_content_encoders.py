"""One plugin's encoder inside another plugin's model: a recommender item tower that reads
per-item tabular attributes through ``selfsup_tabular``'s encoder, trained by ``selfsup fit``
from YAML on small synthetic interactions, then served (item and user embeddings)."""

from __future__ import annotations

import glob

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from selfsup.cli import main

pytest.importorskip("selfsup_recsys")
pytest.importorskip("selfsup_tabular")

from selfsup_recsys.data import InteractionDataModule
from selfsup_recsys.data.synthetic import synthetic_interactions
from selfsup_recsys.serving import export_embeddings, load_two_tower
from selfsup_tabular.encoders import TabularMLP

ATTRS = 6
TABULAR_MLP = {
    "class_path": "selfsup_tabular.encoders.TabularMLP",
    "init_args": {"in_dim": ATTRS, "hidden_dim": 16, "out_dim": 8, "num_layers": 2},
}


def _data_args(root: str) -> dict:
    return {
        "dataset": "interactions",
        "path": "interactions.csv",
        "data_root": root,
        "item_features_path": "items.csv",
        "item_columns": {"genres": "bag", "decade": "categorical"},
        "item_content": {"attributes": "item_attributes.csv"},
        "min_count": 1,
        "batch_size": 16,
        "ssl_batch_size": 8,
    }


def _config(root: str, encoder: dict) -> dict:
    return {
        "seed_everything": 0,
        "trainer": {
            "max_epochs": 2,
            "accelerator": "cpu",
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "limit_val_batches": 0,
            "default_root_dir": root,
        },
        "model": {
            "tasks": [
                {
                    "class_path": "selfsup.experiment.Task",
                    "init_args": {
                        "name": "shop",
                        "method": {
                            "class_path": "feature_two_tower",
                            "init_args": {
                                "embedding_dim": 8,
                                "hidden_dims": [16],
                                "output_dim": 8,
                                "temperature": 0.1,
                                "ssl": "cfm",
                                "frequency_buckets": 256,
                                "content_encoders": {"attributes": encoder},
                            },
                        },
                        "data": {
                            "class_path": "selfsup_recsys.data.InteractionDataModule",
                            "init_args": _data_args(root),
                        },
                    },
                }
            ],
            "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
        },
    }


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Synthetic interactions, item metadata and a table of 6 numeric attributes per item
    (genre-dependent means, so the content carries signal); one item has no attributes."""
    monkeypatch.chdir(tmp_path)
    inter, items, _ = synthetic_interactions(num_users=48, num_items=32, per_user=6, seed=2)
    inter.to_csv(tmp_path / "interactions.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    rng = np.random.default_rng(0)
    cluster = items["item"].to_numpy() % 4
    attrs = rng.normal(size=(len(items), ATTRS)) + cluster[:, None]
    table = pd.DataFrame(attrs, columns=[f"a{j}" for j in range(ATTRS)])
    table.insert(0, "item", items["item"])
    table.iloc[1:].to_csv(tmp_path / "item_attributes.csv", index=False)  # item 0: no content
    return tmp_path


def _fit(root, encoder: dict) -> str:
    path = root / "recsys_content.yaml"
    path.write_text(yaml.safe_dump(_config(str(root), encoder), sort_keys=False))
    assert main(["fit", "--config", str(path)]) == 0
    return glob.glob(str(root / "**" / "*.ckpt"), recursive=True)[0]


def _export(ckpt: str, root) -> dict:
    method = load_two_tower(ckpt)  # no config: the encoder is rebuilt from the saved schema
    with pytest.warns(UserWarning, match="have no content"):
        data = InteractionDataModule(**_data_args(str(root))).load()
    return {"method": method, "data": data, **export_embeddings(method, data)}


def test_trainable_tabular_encoder_trains_through_selfsup_fit_and_exports(workspace):
    ckpt = _fit(workspace, {"encoder": TABULAR_MLP, "trainable": True})
    out = _export(ckpt, workspace)
    assert out["item"].shape == (32, 8) and out["query"].shape == (48, 8)
    assert bool(torch.isfinite(out["item"]).all())
    torch.testing.assert_close(out["item"].norm(dim=1), torch.ones(32))
    encoder = out["method"].item_tower.content["attributes"].encoder
    assert isinstance(encoder, TabularMLP) and encoder.net[0].in_features == ATTRS
    # item 0 has no attributes: an all-NaN content row, embedded with the default embedding
    row = out["data"].items.rows([0])
    assert bool(out["data"].items.features["attributes"][row].isnan().all())
    assert bool(torch.isfinite(out["item"][row]).all())


def test_frozen_pretrained_tabular_encoder_keeps_its_checkpoint_weights(workspace):
    torch.manual_seed(5)
    pretrained = TabularMLP(ATTRS, hidden_dim=16, out_dim=8, num_layers=2)
    state = {f"tasks.tab.method.encoder.{k}": v for k, v in pretrained.state_dict().items()}
    torch.save({"state_dict": state}, workspace / "tabular_pretrained.pt")
    ckpt = _fit(
        workspace,
        {
            "encoder": TABULAR_MLP,
            "trainable": False,
            "checkpoint": str(workspace / "tabular_pretrained.pt"),
            "checkpoint_prefix": "tasks.tab.method.encoder.",
        },
    )
    out = _export(ckpt, workspace)
    served = out["method"].item_tower.content["attributes"].encoder
    for key, value in pretrained.state_dict().items():
        torch.testing.assert_close(served.state_dict()[key], value)
    assert not any(p.requires_grad for p in served.parameters())
    assert out["item"].shape == (32, 8)

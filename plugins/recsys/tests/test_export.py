"""Exported encoders: ``TwoTowerEncoder`` (both towers + vocabularies), towers and content
encoders through ``save_pretrained`` / ``load_pretrained``, and what refuses to export."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from selfsup.demo import MLPEncoder
from selfsup.experiment.method import MalformedBatchError
from selfsup.export import ExportError, load_pretrained, save_pretrained
from selfsup_recsys.data import build_retrieval_data
from selfsup_recsys.data.synthetic import synthetic_interactions
from selfsup_recsys.encoders import ContentEncoder, FeatureTower, IdTower, TwoTowerEncoder
from selfsup_recsys.examples import random_feature_batch, tiny_feature_two_tower
from selfsup_recsys.methods import FeatureTwoTower, TwoTowerRetrieval


def _bags(x: torch.Tensor) -> list[list[int]]:
    return [sorted(v for v in row if v >= 0) for row in x.tolist()]


def test_feature_two_tower_encoder_reproduces_both_towers(tmp_path: Path) -> None:
    method = tiny_feature_two_tower("rfm").eval()
    batch = random_feature_batch(5, torch.Generator().manual_seed(1))
    encoder = method.export_encoder()
    loaded = load_pretrained(save_pretrained(encoder, tmp_path / "enc"), expected=TwoTowerEncoder)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.item(batch["item"]), method.embed({"item": batch["item"]})
        )
        torch.testing.assert_close(loaded(batch["query"], side="query"),
                                   method.embed({"query": batch["query"]}))  # fmt: skip
    with pytest.raises(MalformedBatchError, match="missing feature 'genres'"):
        loaded.item({"item_id": batch["item"]["item_id"]})
    with pytest.raises(ValueError, match="carries no vocabularies"):
        loaded.encode("item", pd.DataFrame({"item_id": [1]}))
    with pytest.raises(ValueError, match="side must be"):
        loaded(batch["item"], side="user")


def test_id_two_tower_encoder(tmp_path: Path) -> None:
    method = TwoTowerRetrieval(num_users=6, num_items=9, embedding_dim=4, hidden_dim=4,
                               output_dim=3).eval()  # fmt: skip
    loaded = load_pretrained(save_pretrained(method.export_encoder(), tmp_path / "enc"))
    users, items = torch.tensor([0, 5]), torch.arange(9)
    with torch.no_grad():
        torch.testing.assert_close(loaded.query(users), method.embed({"user_ids": users}))
        torch.testing.assert_close(loaded(items), method.embed({"item_ids": items}))
    with pytest.raises(MalformedBatchError, match=r"ids in \[0, 9\)"):
        loaded.item(torch.tensor([9]))


def test_vocabularies_travel_with_the_encoder(tmp_path: Path) -> None:
    inter, items, users = synthetic_interactions(num_users=20, num_items=12, per_user=5)
    columns = {"genres": "bag", "decade": "categorical", "price": "numeric"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = build_retrieval_data(inter, items, users, item_columns=columns,
                                    user_columns={"age": "categorical"})  # fmt: skip
    method = FeatureTwoTower(embedding_dim=4, hidden_dims=[8], output_dim=4, frequency_buckets=64)
    method.materialize(
        data.users.specs, data.items.specs,
        tables={"query": data.users.to_config(), "item": data.items.to_config()},
    )  # fmt: skip
    folder = save_pretrained(method.export_encoder(), tmp_path / "enc")
    vocab = json.loads((folder / "config.json").read_text())["init_args"]["vocabularies"]
    assert vocab["item"]["vocab"]["decade"] == data.items.vocab["decade"]
    loaded = load_pretrained(folder)
    # raw metadata rows, in another order, encode exactly as the training tables did
    order = [5, 0, 11]
    features = loaded.encode("item", items.iloc[order])
    for name, value in data.items.gather(torch.tensor(order)).items():
        if value.dim() == 2:  # bags: padded to another width, compare the values
            assert _bags(features[name]) == _bags(value)
        else:
            torch.testing.assert_close(features[name], value)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.item(features), method.item_embeddings(data.items.gather(torch.tensor(order)))
        )
    with pytest.raises(KeyError, match="id column 'user'"):
        loaded.encode("query", pd.DataFrame({"age": [3]}))


def test_content_encoders_export_only_as_safe_descriptions(tmp_path: Path) -> None:
    described = ContentEncoder(
        {"class_path": "torch.nn.Linear", "init_args": {"in_features": 6, "out_features": 3}},
        shape=(6,), trainable=False,
    )  # fmt: skip
    exportable_inner = ContentEncoder(MLPEncoder(6, 8, 4), shape=(6,))
    tower = FeatureTower(
        [{"name": "id", "kind": "categorical", "cardinality": 5},
         {"name": "a", "kind": "content", "shape": [6]},
         {"name": "b", "kind": "content", "shape": [6]}],
        embedding_dim=4, hidden_dims=[8], output_dim=4,
        content_encoders={"a": described, "b": exportable_inner},
    ).eval()  # fmt: skip
    loaded = load_pretrained(save_pretrained(tower, tmp_path / "tower"))
    config = json.loads((tmp_path / "tower" / "config.json").read_text())["init_args"]
    assert config["content_encoders"]["b"]["encoder"]["component"] == "selfsup:mlp_encoder"
    assert not any(p.requires_grad for p in loaded.content["a"].parameters())
    x = {"id": torch.tensor([1, 2]), "a": torch.randn(2, 6), "b": torch.randn(2, 6)}
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), tower(x))
    live = ContentEncoder(nn.Sequential(nn.Linear(6, 3)), shape=(6,))
    with pytest.raises(ExportError, match="cannot be exported"):
        save_pretrained(live, tmp_path / "live")
    with pytest.raises(ExportError, match="only torch.nn classes"):
        ContentEncoder({"class_path": "subprocess.Popen", "init_args": {"args": ["true"]}}, (6,))
    with pytest.raises(ExportError, match="not an exportable encoder class"):
        ContentEncoder({"component": "recsys:two_tower", "init_args": {}}, (6,))


def test_towers_are_exportable(tmp_path: Path) -> None:
    tower = IdTower(7, embedding_dim=3, hidden_dim=5, out_dim=2).eval()
    loaded = load_pretrained(save_pretrained(tower, tmp_path / "id"), expected=IdTower)
    torch.testing.assert_close(loaded(torch.arange(7)), tower(torch.arange(7)))

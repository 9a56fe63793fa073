"""Embedding with ``InteractionDataModule``: the data folder, ``predict_dataloader`` over every item
or user, the vocabularies saved in the model (not re-fitted on the files), content features."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from selfsup.data import EmbeddingBatch
from selfsup.data.roots import DataRootError
from selfsup.experiment.embedding import embed_to_file
from selfsup.export import read_embeddings
from selfsup_recsys.data import FeatureTable, InteractionDataModule
from selfsup_recsys.data.synthetic import synthetic_interactions
from selfsup_recsys.methods import FeatureTwoTower
from selfsup_recsys.serving import export_embeddings

ITEM_COLUMNS = {"genres": "bag", "decade": "categorical", "price": "numeric"}


def _write(root: Path, num_users: int = 30, num_items: int = 24) -> None:
    inter, items, users = synthetic_interactions(num_users=num_users, num_items=num_items)
    inter.to_csv(root / "inter.csv", index=False)
    items.to_csv(root / "items.csv", index=False)
    users.to_csv(root / "users.csv", index=False)


def _module(root: Path | None, **kwargs: object) -> InteractionDataModule:
    args = {
        "dataset": "interactions", "path": "inter.csv", "item_features_path": "items.csv",
        "user_features_path": "users.csv", "item_columns": ITEM_COLUMNS,
        "user_columns": {"age": "categorical"}, "min_count": 1, "batch_size": 7,
        "data_root": None if root is None else str(root),
    }  # fmt: skip
    return InteractionDataModule(**{**args, **kwargs})  # type: ignore[arg-type]


def _trained_shape(dm: InteractionDataModule, with_tables: bool = True) -> FeatureTwoTower:
    """A model materialised on ``dm`` as ``selfsup fit``'s setup does (random weights)."""
    data = dm.load()
    tables = {"query": data.users.to_config(), "item": data.items.to_config()}
    torch.manual_seed(0)
    method = FeatureTwoTower(embedding_dim=4, hidden_dims=[8], output_dim=6, frequency_buckets=64)
    method.materialize(
        data.users.specs, data.items.specs, data.item_mi, tables=tables if with_tables else None
    )
    return method.eval()


def test_data_folder_from_argument_or_environment(tmp_path: Path, monkeypatch) -> None:
    _write(tmp_path)
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    with pytest.raises(DataRootError, match=r"data_root=.*SELFSUP_DATA"):
        _module(None).load()
    monkeypatch.setenv("SELFSUP_DATA", str(tmp_path))
    assert len(_module(None).load().items) == 24
    monkeypatch.delenv("SELFSUP_DATA")
    dm = _module(  # absolute paths need no data folder
        None, path=str(tmp_path / "inter.csv"), item_features_path=str(tmp_path / "items.csv"),
        user_features_path=str(tmp_path / "users.csv"),
    )  # fmt: skip
    assert len(dm.load().users) == 30
    with pytest.raises(ValueError, match="predict_side must be"):
        _module(tmp_path, predict_side="user")


@pytest.mark.parametrize("side", ["item", "query"])
def test_predict_covers_every_row_once_and_embeds(tmp_path: Path, side: str) -> None:
    _write(tmp_path)
    dm = _module(tmp_path, predict_side=side)
    method = _trained_shape(dm)
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert all(isinstance(b, EmbeddingBatch) and len(b.ids) <= 7 for b in batches)
    ids = [i for b in batches for i in (b.ids.tolist() if side == "item" else b.ids)]
    _, items, users = synthetic_interactions(num_users=30, num_items=24)
    expected = items["item"].tolist() if side == "item" else users["user"].tolist()
    assert sorted(ids, key=str) == sorted(expected, key=str) and len(set(ids)) == len(ids)
    with torch.no_grad():
        vectors = torch.cat([method.embed(b.inputs) for b in batches])
    assert vectors.shape == (len(ids), 6) and bool(torch.isfinite(vectors).all())
    # same rows and values as the in-Python export over the fitted tables
    out = export_embeddings(method, dm.load())
    keys = out["item_keys"] if side == "item" else out["user_keys"]
    torch.testing.assert_close(vectors, out[side][[keys.index(i) for i in ids]])


def test_embedding_uses_the_models_vocabularies_not_refitted_ones(tmp_path: Path) -> None:
    _write(tmp_path)
    method = _trained_shape(_module(tmp_path))
    stale = _trained_shape(_module(tmp_path), with_tables=False)  # a model without vocabularies
    before = export_embeddings(method, _module(tmp_path).load())
    # the files grow after training: a new item with a new genre and a new decade, listed first,
    # so vocabularies fitted now would give other codes (and a larger id table)
    items = pd.read_csv(tmp_path / "items.csv")
    new = pd.DataFrame({"item": [999], "genres": ["g9|g0"], "decade": ["2050s"], "price": [3.0]})
    pd.concat([new, items]).to_csv(tmp_path / "items.csv", index=False)
    grown = _module(tmp_path)
    assert grown.load().items.specs != method.item_tower.specs  # re-fitting would not fit
    out = embed_to_file(method, grown, tmp_path / "items.npy", progress_bar=False)
    ids, vectors = read_embeddings(out)
    assert len(ids) == 25 and 999 in ids and np.isfinite(vectors).all()
    rows = [ids.index(k) for k in before["item_keys"]]
    np.testing.assert_allclose(vectors[rows], before["item"].numpy(), rtol=1e-5, atol=1e-6)
    # export_embeddings over the data module takes the same path
    again = export_embeddings(method, grown)
    np.testing.assert_allclose(again["item"].numpy(), vectors, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="carries no vocabularies"):
        embed_to_file(stale, grown, tmp_path / "stale.npy", progress_bar=False)


def test_the_data_module_needs_no_trainer_the_method_binds_to_it(tmp_path: Path) -> None:
    _write(tmp_path)
    dm = _module(tmp_path)
    dm.setup("fit")
    assert dm.trainer is None
    method = FeatureTwoTower(embedding_dim=4, hidden_dims=[8], output_dim=6, ssl="cfm")
    method.bind_data(dm, "fit")  # what SSLModule.setup does after dm.setup("fit")
    data = dm.load()
    assert method.materialized and bool(method.feature_mi_ready)
    assert list(method.item_tower.specs) == list(data.items.specs)
    assert method.feature_tables == {
        "query": data.users.to_config(),
        "item": data.items.to_config(),
    }
    method.bind_data(dm, "validate")  # again: the same schema is fine
    # a bare model rebuilds from the state dict, whose layout is unchanged
    fresh = FeatureTwoTower(frequency_buckets=2**18)
    fresh.load_state_dict(method.state_dict())
    assert fresh.materialized and fresh.feature_tables == method.feature_tables
    # predict: the model hands the data module its vocabularies and tower features
    grown = _module(tmp_path)
    grown.setup("predict")
    method.eval().bind_data(grown, "predict")
    batches = list(grown.predict_dataloader())
    with torch.no_grad():
        vectors = torch.cat([method.embed(b.inputs) for b in batches])
    assert vectors.shape == (24, 6)
    # an unbuilt model hands nothing, and the data module forgets the previous one
    FeatureTwoTower().bind_data(grown, "predict")
    assert grown._model_vocabularies is None and grown._model_specs is None


def test_feature_table_encoding_survives_json(tmp_path: Path) -> None:
    meta = pd.DataFrame(
        {"item": [10, 11, 12], "tags": ["x|y", "y", None], "kind": [1.0, 2.0, None],
         "price": [1.0, 2.0, 6.0]}
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = FeatureTable(
            [10, 11, 12], meta, "item", {"tags": "bag", "kind": "categorical", "price": "numeric"}
        )
    saved = json.loads(json.dumps(table.to_config()))
    rebuilt = FeatureTable.from_config(saved)
    assert rebuilt.specs == table.specs
    # integers and integral floats are one categorical value (pandas reads gaps as floats)
    rows = pd.DataFrame({"item": [12, 10, 77], "tags": ["y", "x|y", "z"], "kind": [2, 1, 5]})
    encoded = rebuilt.encode(rows)
    assert encoded["id"].tolist() == [3, 1, 0] and encoded["kind"].tolist() == [2, 1, 0]
    assert encoded["tags"].tolist() == [[0, -1], [0, 1], [-1, -1]]
    torch.testing.assert_close(encoded["price"], torch.zeros(3))  # missing: the mean
    with pytest.raises(RuntimeError, match="holds no rows"):
        rebuilt.gather(torch.tensor([0]))
    with pytest.raises(ValueError, match="needs"):
        FeatureTable.from_config({"keys": [1]})


def test_content_features_are_read_for_embedding(tmp_path: Path) -> None:
    _write(tmp_path)
    values = np.random.default_rng(0).normal(size=(23, 3)).astype("float32")
    content = pd.DataFrame(values, columns=["a", "b", "c"])
    content.insert(0, "item", range(23))  # item 23 has no content
    content.to_csv(tmp_path / "attrs.csv", index=False)
    dm = _module(tmp_path, item_content={"attrs": "attrs.csv"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = dm.load()
        tables = {"query": data.users.to_config(), "item": data.items.to_config()}
        again = _module(tmp_path, item_content={"attrs": "attrs.csv"})
        keys, features, specs = again.embedding_features("item", tables)
    assert keys == data.items.keys and specs == data.items.specs
    torch.testing.assert_close(features["attrs"], data.items.features["attrs"], equal_nan=True)
    with pytest.warns(UserWarning, match="no item_content file"):
        _, missing, _ = _module(tmp_path).embedding_features("item", tables)
    assert bool(missing["attrs"].isnan().all())

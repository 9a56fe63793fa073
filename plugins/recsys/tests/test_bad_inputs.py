"""Bad inputs: what the recsys plugin refuses, skips with a counted warning, or documents.

Three sources come from strangers and are checked here: checkpoints (a state dict's saved
schema must never make the model import or call anything it names), configs (a content
encoder's ``class_path`` is called only once it is known to be an ``nn.Module`` class) and data
files (a value that cannot be read as its column's type is an error naming the file, row and
value; documented skips warn with counts). Every file is written in ``tmp_path``.
"""

from __future__ import annotations

import copy
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from selfsup.experiment import MalformedBatchError
from selfsup_recsys.augment import feature_masking
from selfsup_recsys.data import FeatureTable, InteractionDataModule, clean_interactions
from selfsup_recsys.data.interactions import leave_last_out, parse_times, read_table
from selfsup_recsys.data.item_content import align_content, read_item_content
from selfsup_recsys.encoders import build_content_encoder
from selfsup_recsys.methods import FeatureTwoTower
from selfsup_recsys.serving import load_two_tower

QUERY = [{"name": "user_id", "kind": "categorical", "cardinality": 4}]
ITEM = [
    {"name": "item_id", "kind": "categorical", "cardinality": 5},
    {"name": "attrs", "kind": "content", "shape": [3]},
]
LINEAR = {"class_path": "torch.nn.Linear", "init_args": {"in_features": 3, "out_features": 2}}
SMALL = {"embedding_dim": 4, "hidden_dims": [4], "output_dim": 4, "frequency_buckets": 16}


class OwnEncoder(nn.Module):
    """A user's own encoder class: importable, but registered in no plugin."""

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.net = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture
def calls(monkeypatch) -> list[Any]:
    """Spies in place of os.system, subprocess.Popen and a registered non-module component:
    each records its call instead of running anything."""
    record: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> int:
        record.append((args, kwargs))
        return 0

    class PopenSpy:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            record.append((args, kwargs))

    monkeypatch.setattr(os, "system", spy)
    monkeypatch.setattr(subprocess, "Popen", PopenSpy)
    monkeypatch.setattr(feature_masking, "random_feature_masks", spy)
    return record


def _state(encoder: Any) -> dict[str, Any]:
    """A FeatureTwoTower state dict whose saved content encoder is replaced by ``encoder``."""
    model = FeatureTwoTower(QUERY, ITEM, content_encoders={"attrs": {"encoder": LINEAR}}, **SMALL)
    state = model.state_dict()
    schema = copy.deepcopy(state["schema._extra_state"])
    schema["content_encoders"]["attrs"]["encoder"] = encoder
    state["schema._extra_state"] = schema
    return state


# -- checkpoints: nothing a state dict names is imported or called --------------------------------
SAVED_ATTACKS = {
    "os.system": (
        lambda m: {"class_path": "os.system", "init_args": {"command": f"touch {m}"}},
        "neither a torch.nn class nor a registered",
    ),
    "subprocess.Popen": (
        lambda m: {"class_path": "subprocess.Popen", "init_args": {"args": ["touch", m]}},
        "neither a torch.nn class nor a registered",
    ),
    "builtins.exec": (
        lambda m: {"class_path": "builtins.exec", "init_args": {"source": f"open('{m}', 'w')"}},
        "neither a torch.nn class nor a registered",
    ),
    "module:attribute": (
        lambda m: {"class_path": "os:system", "init_args": {"command": f"touch {m}"}},
        "names no installed component",
    ),
    "registered function (component)": (
        lambda m: {"component": "recsys:rfm", "init_args": {"num_features": 2}},
        "not a torch.nn.Module class",
    ),
    "registered function (short name)": (
        lambda m: {"class_path": "rfm", "init_args": {"num_features": 2}},
        "not a torch.nn.Module class",
    ),
    "registered data module (component)": (
        lambda m: {"component": "recsys:interactions", "init_args": {"path": m}},
        "the class InteractionDataModule, not a torch.nn.Module class",
    ),
    "registered data module (import path)": (
        lambda m: {"class_path": "selfsup_recsys.data.datamodule.InteractionDataModule"},
        "not a torch.nn.Module class",
    ),
    "walk out of torch.nn": (
        lambda m: {"class_path": "torch.nn.modules.module.torch.fx.GraphModule"},
        "neither a torch.nn class nor a registered",
    ),
    "non-JSON init_args": (
        lambda m: {"class_path": "torch.nn.Linear", "init_args": {"in_features": torch.ones(1)}},
        "init_args.*is a Tensor; init_args must be plain JSON data",
    ),
    "not a mapping": (lambda m: "os.system", "must be {'class_path' or 'component'"),
}


@pytest.mark.parametrize("case", SAVED_ATTACKS, ids=list(SAVED_ATTACKS))
def test_saved_schema_never_imports_or_calls_what_it_names(case, calls, tmp_path: Path) -> None:
    make, match = SAVED_ATTACKS[case]
    marker = str(tmp_path / "ran")
    state = _state(make(marker))
    with pytest.raises(ValueError, match=match):
        FeatureTwoTower().load_state_dict(state)
    torch.save(state, tmp_path / "model.pt")  # through torch.load(weights_only=True) too
    with pytest.raises(ValueError, match=match):
        load_two_tower(str(tmp_path / "model.pt"))
    assert calls == [] and not os.path.exists(marker)


def test_saved_schema_rebuilds_torch_nn_and_registered_encoders(tmp_path: Path) -> None:
    model = FeatureTwoTower(QUERY, ITEM, content_encoders={"attrs": {"encoder": LINEAR}}, **SMALL)
    again = FeatureTwoTower(frequency_buckets=16)
    again.load_state_dict(model.state_dict())
    assert isinstance(again.item_tower.content["attrs"].encoder, nn.Linear)
    # a config naming a registered module class by its import path is saved by registry name
    mlp = {"in_dim": 3, "hidden_dim": 4, "out_dim": 2}
    by_path = {"encoder": {"class_path": "selfsup.demo.MLPEncoder", "init_args": mlp}}
    saved = FeatureTwoTower(QUERY, ITEM, content_encoders={"attrs": by_path}, **SMALL)
    state = saved.state_dict()
    spec = state["schema._extra_state"]["content_encoders"]["attrs"]["encoder"]
    assert spec == {"component": "selfsup:mlp_encoder", "init_args": mlp}
    # older checkpoints that saved the import path: resolved through the registry, not imported
    for legacy in ("selfsup.demo.MLPEncoder", "selfsup.demo.vector_simclr.MLPEncoder"):
        state["schema._extra_state"] = copy.deepcopy(state["schema._extra_state"])
        state["schema._extra_state"]["content_encoders"]["attrs"]["encoder"] = {
            "class_path": legacy,
            "init_args": mlp,
        }
        restored = FeatureTwoTower(frequency_buckets=16)
        restored.load_state_dict(state)
        assert type(restored.item_tower.content["attrs"].encoder).__name__ == "MLPEncoder"


def test_unregistered_encoder_class_needs_the_config_again(tmp_path: Path) -> None:
    own = {"encoder": {"class_path": f"{__name__}.OwnEncoder", "init_args": {"width": 3}}}
    with pytest.warns(UserWarning, match="neither a torch.nn class nor a registered"):
        model = FeatureTwoTower(QUERY, ITEM, content_encoders={"attrs": own}, **SMALL)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    with pytest.raises(ValueError, match="Give the encoder yourself"):
        load_two_tower(str(tmp_path / "model.pt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        served = load_two_tower(str(tmp_path / "model.pt"), content_encoders={"attrs": own})
    torch.testing.assert_close(
        served.item_tower.content["attrs"].encoder.net.weight,
        model.item_tower.content["attrs"].encoder.net.weight,
    )


def test_malformed_saved_schema_and_checkpoint_files(tmp_path: Path) -> None:
    state = _state(LINEAR)
    state["schema._extra_state"]["hidden_dims"] = "128"
    with pytest.raises(ValueError, match="hidden_dims must be a list of positive ints"):
        FeatureTwoTower().load_state_dict(state)
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(ValueError, match="holds a Tensor, not a state dict"):
        load_two_tower(str(tmp_path / "tensor.pt"))
    table = FeatureTable(["a"], pd.DataFrame({"item": ["a"], "c": ["x"]}), "item", {"c": "bag"})
    config = table.to_config()
    config["columns"] = {"c": "os.system"}
    with pytest.raises(ValueError, match="columns of unknown kinds"):
        FeatureTable.from_config(config)


# -- configs: a class_path is called only when it is an nn.Module class ---------------------------
CONFIG_ATTACKS = {
    "os.system": {"class_path": "os.system", "init_args": {"command": "touch ran"}},
    "subprocess.Popen": {"class_path": "subprocess.Popen", "init_args": {"args": ["true"]}},
    "registered function": {"class_path": "rfm", "init_args": {"num_features": 2}},
    "registered data module": {"component": "recsys:interactions", "init_args": {}},
}


@pytest.mark.parametrize("case", CONFIG_ATTACKS, ids=list(CONFIG_ATTACKS))
def test_config_content_encoder_must_be_a_module_class(case, calls) -> None:
    config = {"attrs": {"encoder": CONFIG_ATTACKS[case]}}
    with pytest.raises(ValueError, match="not a torch.nn.Module class; refusing to call it"):
        FeatureTwoTower(QUERY, ITEM, content_encoders=config, **SMALL)
    assert calls == []


def test_config_content_encoder_options_are_typed() -> None:
    with pytest.raises(ValueError, match="trainable must be true or false, got 'no'"):
        build_content_encoder({"encoder": LINEAR, "trainable": "no"}, (3,))
    with pytest.raises(ValueError, match="pool must be one of"):
        build_content_encoder({"encoder": LINEAR, "pool": "max"}, (3,))


# -- data files -----------------------------------------------------------------------------------
def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


INTERACTIONS = "user,item,timestamp\n" + "".join(
    f"u{u},{i},{t}\n" for u in range(3) for t, i in enumerate(["a", "b", "c", "d"])
)


def _load(tmp_path: Path, interactions: str | bytes, items: str | None = None, **kw: Any):
    _write(tmp_path, "interactions.csv", interactions)
    if items is not None:
        _write(tmp_path, "items.csv", items)
        kw = {"item_features_path": "items.csv", "item_columns": {"price": "numeric"}, **kw}
    return InteractionDataModule(
        dataset="interactions", path="interactions.csv", data_root=str(tmp_path), min_count=1,
        **kw,
    ).load()  # fmt: skip


def test_one_bad_timestamp_is_refused_with_file_row_and_value(tmp_path: Path) -> None:
    text = "user,item,timestamp\nu1,a,9\nu1,b,10\nu1,c,100\nu2,a,5\nu2,b,bad\nu2,c,7\n"
    with pytest.raises(
        ValueError,
        match=r"interactions.csv: the time column 'timestamp' holds numbers, but 1 value\(s\) "
        r"are not: data row 5 \(line 6\): 'bad'",
    ):
        _load(tmp_path, text)
    # the same numbers without the bad row: sorted as numbers (100 is u1's last, not 9)
    data = _load(tmp_path, text.replace("u2,b,bad\n", ""))
    assert data.items.keys[int(data.test[0, 1])] == "c"


def test_iso_timestamps_are_sorted_in_time_for_the_whole_column(tmp_path: Path) -> None:
    # in time: c (00:00Z) < a (08:00Z) < b (09:00Z); as text, a's "T10" would sort last
    rows = [("u1", "c", "2024-03-01"), ("u1", "a", "2024-03-01T10:00:00+02:00"),
            ("u1", "b", "2024-03-01T09:00:00Z")]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    splits = leave_last_out(clean_interactions(frame)[0])
    assert splits.test["item"].tolist() == ["b"] and splits.val["item"].tolist() == ["a"]
    dates = "user,item,timestamp\nu1,a,2024-03-10\nu1,b,2024-02-28\nu1,c,2024-03-09\n"
    data = _load(tmp_path, dates)
    assert data.items.keys[int(data.test[0, 1])] == "a"
    assert data.items.keys[int(data.val[0, 1])] == "c"


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (
            ["2024-03-01", "2024-03-02", "yesterday"],
            r"holds ISO 8601 dates.*data row 3: 'yesterday'",
        ),
        (["5", "6", "2024-03-01"], r"holds numbers.*data row 3: '2024-03-01'"),
        ([1.0, float("inf"), 3.0], r"holds finite numbers.*data row 2: inf"),
        (["1", "inf", "3"], r"holds finite numbers.*data row 2: 'inf'"),
        ([True, False, True], "holds booleans"),
    ],
    ids=["bad date", "numbers and a date", "inf number", "inf text", "booleans"],
)
def test_unreadable_timestamp_columns(values: list[Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_times(pd.Series(values), "t.parquet", "timestamp")


def test_missing_timestamps_drop_their_rows_with_a_count() -> None:
    frame = pd.DataFrame({"user": [1, 1, 1], "item": [1, 2, 3], "timestamp": ["1", None, "NA"]})
    with pytest.warns(UserWarning, match="dropped 2 row"):
        out, stats = clean_interactions(frame)
    assert stats["missing_values"] == 2 and out["item"].tolist() == [1]


FILE_ERRORS = {
    "empty file": (b"", r"interactions.csv' is empty"),
    "header only": ("user,item,timestamp\n", r"has a header .* but no data rows"),
    "semicolons": ("user;item;timestamp\n1;2;3\n", r"looks separated by ';'"),
    "tabs": ("user\titem\ttimestamp\n1\t2\t3\n", r"looks separated by '\\t'"),
    "repeated column": ("user,item,item\n1,2,3\n", r"repeats the column name\(s\) \['item'\]"),
    "extra field": ("user,item,timestamp\n1,2,3\n1,2,3,4\n", "not a well-formed CSV"),
    "not UTF-8": ("user,item,timestamp\nJos\xe9,2,3\n".encode("latin-1"), "not UTF-8"),
}


@pytest.mark.parametrize("case", FILE_ERRORS, ids=list(FILE_ERRORS))
def test_malformed_table_files(case: str, tmp_path: Path) -> None:
    content, match = FILE_ERRORS[case]
    path = _write(tmp_path, "interactions.csv", content)
    with pytest.raises(ValueError, match=match):
        read_table(str(path))


def test_byte_order_mark_and_unread_columns_are_documented_behaviour(tmp_path: Path) -> None:
    # a UTF-8 BOM (Excel's "CSV UTF-8") is skipped: the first column is still 'user'
    data = _load(tmp_path, "\ufeff" + INTERACTIONS)
    assert len(data.users) == 3 and data.stats["missing_values"] == 0
    # ratings/weights are not read (implicit feedback): a NaN rating drops nothing
    rated = "user,item,timestamp,rating\n" + "".join(
        f"u{u},{i},{t},{'' if t == 1 else 4}\n" for u in range(3) for t, i in enumerate("abcd")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = _load(tmp_path, rated)
    assert data.stats["rows"] == 12 and data.stats["missing_values"] == 0


def test_interaction_rows_missing_columns_and_repeats(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"\['timestamp'\] not found in .*interactions.csv"):
        _load(tmp_path, INTERACTIONS.replace("timestamp", "time"))
    with pytest.warns(UserWarning, match=r"dropped 1 row\(s\) with missing values and 1 repeated"):
        _load(tmp_path, INTERACTIONS + ",a,9\nu0,a,10\n")


def test_ids_that_mix_numbers_and_text_are_refused(tmp_path: Path) -> None:
    numbers = INTERACTIONS.replace(",a,", ",1,").replace(",b,", ",2,")
    numbers = numbers.replace(",c,", ",3,").replace(",d,", ",4,")
    items = "item,price\n1,2.0\n2,3.0\nA7,1.0\n"  # one text id: the column is read as text
    with pytest.raises(ValueError, match=r"item \('item'\) ids mix kinds: number in .*"):
        _load(tmp_path, numbers, items)
    frame = pd.DataFrame({"user": [1, "u2"], "item": [1, 2], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match=r"user \('user'\) ids mix kinds"):
        clean_interactions(frame)


def test_metadata_repeats_missing_rows_and_missing_ids(tmp_path: Path) -> None:
    same = "item,price\na,1\nb,2\nb,2\nc,3\nd,4\n"
    with pytest.warns(UserWarning, match=r"items.csv: 1 repeated row\(s\) .* \(e.g. 'b'\)"):
        _load(tmp_path, INTERACTIONS, same)
    differ = "item,price\na,1\nb,2\nb,5\nc,3\nd,4\n"
    with pytest.raises(
        ValueError, match=r"1 id\(s\) have several rows that disagree, e.g. 'b' \(data row 2"
    ):
        _load(tmp_path, INTERACTIONS, differ)
    partial = "item,price\na,1\nb,2\nc,3\n"
    with pytest.warns(UserWarning, match=r"1 of 4 entities have no feature row .*\['d'\]"):
        data = _load(tmp_path, INTERACTIONS, partial)
    assert float(data.items.features["price"][data.items.rows(["d"])]) == 0.0  # the mean
    no_id = "item,price\na,1\n,2\nb,2\nc,3\nd,4\n"
    with pytest.warns(UserWarning, match=r"1 row\(s\) have no 'item' .*data row 2 \(line 3\)"):
        data = _load(tmp_path, INTERACTIONS, no_id)
    assert len(data.items) == 4
    with pytest.raises(ValueError, match=r"none of the 4 item ids of .*interactions.csv has a row"):
        _load(tmp_path, INTERACTIONS, "item,price\nx,1\ny,2\n")
    with pytest.raises(KeyError, match=r"item key column 'item' not found in .*items.csv"):
        _load(tmp_path, INTERACTIONS, "sku,price\na,1\n")


@pytest.mark.parametrize(
    ("cell", "match"),
    [
        ("12,5", r"data row 2 \(line 3\) id 'b': '12,5'"),
        ("inf", r"id 'b': inf"),
        ("cheap", r"id 'b': 'cheap'"),
    ],  # fmt: skip
    ids=["decimal comma", "inf", "text"],
)
def test_numeric_metadata_that_is_not_a_number(cell: str, match: str, tmp_path: Path) -> None:
    items = f'item,price\na,1\nb,"{cell}"\nc,3\nd,4\n'
    with pytest.raises(ValueError, match=r"items.csv: numeric column 'price' .*" + match):
        _load(tmp_path, INTERACTIONS, items)


def test_missing_numeric_values_get_the_mean_and_serving_rows_are_checked(tmp_path: Path) -> None:
    data = _load(tmp_path, INTERACTIONS, "item,price\na,1\nb,\nc,NA\nd,3\n")
    assert data.items.features["price"][data.items.rows(["b", "c"])].tolist() == [0.0, 0.0]
    new = pd.DataFrame({"item": ["z"], "price": ["n/a"]})
    assert data.items.encode(new, "item")["price"].tolist() == [0.0]
    with pytest.raises(ValueError, match=r"numeric column 'price' .*id 'z': 'ten'"):
        data.items.encode(pd.DataFrame({"item": ["z"], "price": ["ten"]}), "item")


def test_content_files_that_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "text.csv", "item,a0,a1\n1,0.5,red\n")
    with pytest.raises(ValueError, match="content columns must be numeric"):
        read_item_content(tmp_path / "text.csv")
    np.save(tmp_path / "bare.npy", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no item ids"):
        read_item_content(tmp_path / "bare.npy")
    _write(tmp_path, "head.csv", "item,a0\n")
    with pytest.raises(ValueError, match="no data rows"):
        read_item_content(tmp_path / "head.csv")
    values = torch.tensor([[1.0, float("nan")], [2.0, 3.0]])
    with pytest.raises(ValueError, match=r"1 row\(s\) hold NaN/inf"):
        align_content([1, 2], [1, 2], values, "attrs")
    with pytest.warns(UserWarning, match="1 duplicate item id"):
        align_content([1, 2], [1, 1, 2], torch.ones(3, 2), "attrs")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dataset": "ml-1m"}, "dataset must be one of"),
        ({"predict_side": "user"}, "predict_side must be 'item'"),
        ({"train_fraction": 0.0}, r"train_fraction must be in \(0, 1\]"),
    ],  # fmt: skip
    ids=["dataset", "predict_side", "train_fraction"],
)
def test_data_module_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        InteractionDataModule(**kwargs)


def test_malformed_batches() -> None:
    model = FeatureTwoTower(QUERY, [ITEM[0]], **SMALL)
    ok = {"query": {"user_id": torch.tensor([1, 2])}, "item": {"item_id": torch.tensor([1, 2])},
          "item_ids": torch.tensor([0, 1])}  # fmt: skip
    assert torch.isfinite(model.training_losses(ok)["loss"])
    with pytest.raises(MalformedBatchError, match="cardinality=5"):
        model.training_losses({**ok, "item": {"item_id": torch.tensor([1, 9])}})
    with pytest.raises(MalformedBatchError, match="missing 'item_ids'"):
        model.training_losses({k: v for k, v in ok.items() if k != "item_ids"})

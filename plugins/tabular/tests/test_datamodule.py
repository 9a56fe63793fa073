"""TabularCSVDataModule: data root, splits fitted on train only, a Lightning fit smoke test, and
``predict_dataloader`` (ids, raw rows, the method's saved preprocessing) for ``selfsup embed``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer

from selfsup.data import EmbeddingBatch
from selfsup.data.roots import DataRootError
from selfsup.experiment import SSLModule, Task
from selfsup.experiment.embedding import embed_to_file
from selfsup.export import read_embeddings
from selfsup_tabular.data import TabularCSVDataModule, read_table
from selfsup_tabular.methods import SCARF, TJEPA, VIME

SMALL = dict(
    d_token=8,
    num_heads=2,
    ffn_dim=8,
    encoder_layers=1,
    predictor_dim=8,
    predictor_layers=1,
    predictor_heads=2,
)


def _write(path, rows: int = 40, seed: int = 0, sep: str = ";") -> None:
    rng = np.random.default_rng(seed)
    lines = ["age;job;hours;label".replace(";", sep)]
    for _ in range(rows):
        job = rng.choice(["a", "b", "?"])
        age = "" if rng.random() < 0.1 else f"{rng.integers(18, 80)}"
        label = rng.choice(["yes", "no"])
        lines.append(sep.join([age, job, f"{rng.normal():.3f}", label]))
    path.write_text("\n".join(lines) + "\n")


def test_data_root_comes_from_the_argument_or_selfsup_data_never_a_default(
    tmp_path, monkeypatch
) -> None:
    _write(tmp_path / "t.csv", sep=",")
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    with pytest.raises(DataRootError, match=r"data_root=.*SELFSUP_DATA"):
        TabularCSVDataModule(path="t.csv", target="label").setup("fit")
    monkeypatch.setenv("SELFSUP_DATA", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TabularCSVDataModule(path="t.csv", target="label").setup("fit")  # found via the env var
        with pytest.raises(FileNotFoundError, match="nope.csv"):
            TabularCSVDataModule(path="nope.csv").setup("fit")
    monkeypatch.delenv("SELFSUP_DATA")
    with pytest.raises(DataRootError, match="does not exist"):
        TabularCSVDataModule(path="t.csv", data_root=str(tmp_path / "absent")).setup("fit")
    absolute = TabularCSVDataModule(path=str(tmp_path / "t.csv"), target="label")
    assert absolute.resolve(absolute.path) == str(tmp_path / "t.csv")  # no data folder needed


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


@pytest.mark.parametrize("kind", ["tjepa", "scarf"])
def test_selfsup_fit_materialises_the_method_and_saves_the_transform(tmp_path, kind) -> None:
    _write(tmp_path / "t.csv", sep=",")
    dm = TabularCSVDataModule(path="t.csv", target=-1, data_root=str(tmp_path), batch_size=8)
    method = TJEPA(**SMALL) if kind == "tjepa" else SCARF(hidden_dim=8)
    before = [p.detach().clone() for p in method.parameters()]
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
    assert not before and method.materialized and method.preprocessing.fitted
    if kind == "tjepa":
        assert method.target.last_step.item() == 2  # EMA updated by SSLModule
    state = module.state_dict()
    assert state["tasks.t.method.preprocessing._extra_state"]["numerical"][0]["name"] == "age"


@pytest.mark.parametrize("kind", ["tjepa", "scarf"])
def test_the_data_module_needs_no_trainer_the_method_binds_to_it(tmp_path, kind) -> None:
    _write(tmp_path / "t.csv", sep=",")
    dm = TabularCSVDataModule(path="t.csv", target=-1, data_root=str(tmp_path), batch_size=8)
    method = TJEPA(**SMALL) if kind == "tjepa" else SCARF(hidden_dim=8)
    method.bind_data(dm, "fit")  # nothing fitted yet: nothing to take
    assert not method.materialized
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm.setup("fit")
    assert dm.trainer is None and not method.materialized  # the data module never looks
    method.bind_data(dm, "fit")
    assert method.materialized and method.preprocessing.spec == dm.preprocessor.to_dict()
    method.bind_data(dm, "validate")  # again: the same schema is fine
    # a bare model rebuilds from the state dict, whose layout is unchanged
    state = method.state_dict()
    assert state["preprocessing._extra_state"] == dm.preprocessor.to_dict()
    fresh = TJEPA(**SMALL) if kind == "tjepa" else SCARF(hidden_dim=8)
    fresh.load_state_dict(state)
    assert fresh.materialized and fresh.preprocessing.spec == method.preprocessing.spec
    # predict keeps the model's own preprocessing, whatever the data module holds
    other = TabularCSVDataModule(path="t.csv", target=-1, data_root=str(tmp_path), drop=["hours"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other.setup("fit")
    fresh.bind_data(other, "predict")
    assert fresh.preprocessing.spec == method.preprocessing.spec
    with pytest.raises(ValueError, match="schema mismatch"):
        fresh.bind_data(other, "fit")


@pytest.mark.parametrize(
    ("name", "cls"), [("tjepa_adult", TJEPA), ("scarf_adult", SCARF), ("vime_adult", VIME)]
)
def test_shipped_config_builds_an_unmaterialised_method(tmp_path, name, cls) -> None:
    from selfsup.cli.lightning import run_lightning_cli
    from selfsup.plugins.configs import find_config

    config = find_config(f"tabular:{name}")
    args = ["--config", str(config), f"--trainer.default_root_dir={tmp_path}"]
    cli = run_lightning_cli(args, run=False)
    task = cli.model.tasks["adult"]
    assert isinstance(task.method, cls) and not task.method.materialized
    assert isinstance(task.data, TabularCSVDataModule) and task.data.header is False


@pytest.mark.parametrize("name", ["tjepa_adult", "scarf_adult", "vime_adult"])
def test_shipped_configs_describe_themselves_and_run_with_the_plugin_name(name) -> None:
    from selfsup.plugins.configs import find_config

    lines = find_config(f"tabular:{name}").read_text().splitlines()
    assert lines[0].startswith("# ") and lines[0].endswith(".") and len(lines[0]) <= 102
    assert any(f"selfsup fit --config tabular:{name}" in line for line in lines[:8])
    assert not any("shared/data" in line or "repository root" in line for line in lines)


def _write_ids(path, ids: list[str], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lines = ["user,age,job,hours,label"]
    for uid in ids:
        job = rng.choice(["a", "b", "c", "?"])
        label = rng.choice(["yes", "no", ""])  # rows without a label are embedded too
        lines.append(f"{uid},{rng.integers(18, 80)},{job},{rng.normal():.3f},{label}")
    path.write_text("\n".join(lines) + "\n")


def _fitted_tjepa(dm: TabularCSVDataModule) -> TJEPA:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm.setup("fit")
    return TJEPA(**SMALL, pooling="concat").materialize(dm.preprocessor).eval()


def test_id_column_is_never_a_feature_and_must_be_unique(tmp_path) -> None:
    _write_ids(tmp_path / "t.csv", [f"u{i:03d}" for i in range(30)])
    dm = TabularCSVDataModule(
        path="t.csv", target="label", data_root=str(tmp_path), id_column="user"
    )
    _fitted_tjepa(dm)
    assert dm.preprocessor.feature_names == ["age", "hours", "job"]
    _write_ids(tmp_path / "dup.csv", ["a", "b", "a", "c"])
    dup = TabularCSVDataModule(path="dup.csv", data_root=str(tmp_path), id_column="user")
    with pytest.raises(ValueError, match=r"repeats ids \['a'\]"):
        dup.setup("fit")
    with pytest.raises(ValueError, match="repeats ids"):
        dup.predict_dataloader()
    absent = TabularCSVDataModule(path="t.csv", data_root=str(tmp_path), id_column="uid")
    with pytest.raises(KeyError, match="'uid' is not in"):
        absent.predict_dataloader()
    (tmp_path / "gap.csv").write_text("user,age\nx,1\n,2\n")
    gap = TabularCSVDataModule(
        path="gap.csv", target=None, data_root=str(tmp_path), id_column="user"
    )
    with pytest.raises(ValueError, match=r"empty in rows \[1\]"):
        gap.predict_dataloader()


def test_predict_gives_every_row_once_with_its_id_and_the_saved_preprocessing(tmp_path) -> None:
    train_ids = [f"u{i:03d}" for i in range(40)]
    _write_ids(tmp_path / "train.csv", train_ids)
    fit_dm = TabularCSVDataModule(
        path="train.csv", target="label", data_root=str(tmp_path), id_column="user", batch_size=8
    )
    method = _fitted_tjepa(fit_dm)
    # other rows, other statistics: embedding them must not re-fit the preprocessing
    new_ids = [f"n{i:03d}" for i in range(23)]
    _write_ids(tmp_path / "new.csv", new_ids, seed=5)
    table = read_table(tmp_path / "new.csv")
    table["age"] = (table["age"].astype(float) * 10).astype(str)
    table.to_csv(tmp_path / "new.csv", index=False)
    dm = TabularCSVDataModule(
        path="new.csv", target="label", data_root=str(tmp_path), id_column="user", batch_size=5
    )
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert all(isinstance(b, EmbeddingBatch) for b in batches)
    assert [len(b.ids) for b in batches] == [5, 5, 5, 5, 3]
    assert [i for b in batches for i in b.ids] == new_ids
    assert "user" not in batches[0].inputs.columns
    assert not dm.preprocessor.fitted and not dm.splits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = embed_to_file(method, dm, tmp_path / "emb.npy", progress_bar=False)
    ids, vectors = read_embeddings(out)
    assert ids == new_ids and vectors.shape == (23, 16) and np.isfinite(vectors).all()
    with torch.no_grad():
        expected = method.embed(read_table(tmp_path / "new.csv"))  # the saved transform
    np.testing.assert_allclose(vectors, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_predict_without_an_id_column_uses_row_numbers_and_scarf_embeds_the_rows(tmp_path) -> None:
    _write(tmp_path / "t.csv", rows=21, sep=",")
    dm = TabularCSVDataModule(path="t.csv", target="label", data_root=str(tmp_path), batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm.setup("fit")
        method = SCARF(hidden_dim=8).materialize(dm.preprocessor).eval()
        out = embed_to_file(method, dm, tmp_path / "emb.npy", progress_bar=False)
    ids, vectors = read_embeddings(out)
    assert ids == list(range(21)) and vectors.shape == (21, 8)
    batch = next(iter(dm.predict_dataloader()))
    assert batch.ids.dtype == torch.long and len(batch.inputs) == 8


def test_a_tensor_mode_scarf_on_a_table_says_how_to_fix(tmp_path) -> None:
    _write(tmp_path / "t.csv", sep=",")
    dm = TabularCSVDataModule(path="t.csv", target=-1, data_root=str(tmp_path), batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm.setup("fit")
    with pytest.raises(ValueError, match="leave num_features at 0"):
        SCARF(num_features=3).materialize(dm.preprocessor)


def test_pseudo_labels_give_training_batches_of_distinct_clusters(tmp_path) -> None:
    rng = np.random.default_rng(0)
    lines = ["age,hours,row"] + [
        f"{rng.integers(18, 80)},{rng.normal():.3f},{i}" for i in range(60)
    ]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    clusters = np.arange(60) % 12  # one int per file row
    np.save(tmp_path / "clusters.npy", clusters)
    dm = TabularCSVDataModule(
        path="t.csv", target="row", task="regression", data_root=str(tmp_path), batch_size=6,
        val_fraction=0.2, pseudo_labels=str(tmp_path / "clusters.npy"),
    )  # fmt: skip
    dm.setup("fit")
    loader = dm.train_dataloader()
    rows_seen = []
    for batch in loader:
        rows = dm.labels.inverse(batch["y"]).round().long().tolist()  # the target: the file row
        assert len(rows) == 6 and len({int(clusters[r]) for r in rows}) == 6
        rows_seen += rows
    assert len(rows_seen) == 6 * len(loader) and len(set(rows_seen)) == len(rows_seen)
    np.save(tmp_path / "short.npy", clusters[:50])
    short = TabularCSVDataModule(
        path="t.csv", target="row", task="regression", data_root=str(tmp_path),
        pseudo_labels=str(tmp_path / "short.npy"),
    )  # fmt: skip
    with pytest.raises(ValueError, match="50 labels for 60 samples"):
        short.setup("fit")

"""Tests for selfsup_tabular.data.builtin (tables bundled with scikit-learn)."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from selfsup_tabular.data import BuiltinTableDataModule


def test_breast_cancer_splits_and_probe_loaders() -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    data = BuiltinTableDataModule("breast_cancer", val_fraction=0.25, batch_size=64)
    data.setup("fit")
    train, val = data.splits["train"], data.splits["val"]
    assert train["x_num"].shape[0] + val["x_num"].shape[0] == len(frame)
    assert train["x_num"].shape[1] == frame.shape[1] - 1  # the label is never a feature
    assert set(train["y"].tolist()) == {0, 1}
    inputs, labels = next(iter(data.probe_dataloaders()[1]))
    assert labels.shape[0] == inputs["x_num"].shape[0]


def test_regression_table_and_unknown_name() -> None:
    data = BuiltinTableDataModule("diabetes")
    assert data.task == "regression"
    with pytest.raises(ValueError, match="name must be one of"):
        BuiltinTableDataModule("titanic")


def test_predict_embeds_every_row_once_by_row_number(tmp_path) -> None:
    import warnings

    from selfsup.experiment.embedding import embed_to_file
    from selfsup.export import read_embeddings
    from selfsup_tabular.methods import TJEPA

    data = BuiltinTableDataModule("wine", batch_size=64)
    data.setup("fit")
    method = TJEPA(d_token=8, num_heads=2, ffn_dim=16, encoder_layers=1, predictor_dim=8)
    method.materialize(data.preprocessor).eval()
    fresh = BuiltinTableDataModule("wine", batch_size=64)  # as `selfsup embed` builds it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = embed_to_file(method, fresh, tmp_path / "wine.npy", progress_bar=False)
    ids, vectors = read_embeddings(out)
    assert ids == list(range(178)) and vectors.shape == (178, 16)  # load_wine has 178 rows
    assert not fresh.preprocessor.fitted  # the method's saved preprocessing was used


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import now fails
    with pytest.raises(ImportError, match=r"selfsup-tabular\[builtin\]"):
        BuiltinTableDataModule("iris").setup("fit")

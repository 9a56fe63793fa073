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

"""The data module reads the path it is given (never code from it); the probe scores embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from selfsup_template.data import VectorFileDataModule
from selfsup_template.evaluation import knn_probe
from selfsup_template.methods import TemplateMethod

from selfsup.data import EmbeddingBatch


def _files(tmp_path, n: int = 30, f: int = 16) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, f)).astype("float32") + 4.0 * y[:, None]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return str(tmp_path / "x.npy"), str(tmp_path / "y.npy")


def test_split_is_seeded_disjoint_and_predict_yields_every_row_once(tmp_path) -> None:
    x_path, y_path = _files(tmp_path)
    dm = VectorFileDataModule(x_path, y_path, val_fraction=0.2, batch_size=7)
    dm.setup("fit")
    train = {int(i) for i in dm.train_rows}
    val = {int(i) for i in dm.val_rows}
    assert len(val) == 6 and not train & val and len(train | val) == 30
    again = VectorFileDataModule(x_path, y_path, val_fraction=0.2)
    again.setup("fit")
    assert torch.equal(again.val_rows, dm.val_rows)
    ids = []
    for batch in dm.predict_dataloader():
        assert isinstance(batch, EmbeddingBatch) and batch.inputs.shape[1] == 16
        ids += batch.ids
    assert ids == list(range(30))


def test_bad_files_say_what_is_wrong(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="pass the path of a .npy file"):
        VectorFileDataModule(str(tmp_path / "none.npy")).setup()
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain numeric .npy array"):
        VectorFileDataModule(str(tmp_path / "obj.npy")).setup()
    x_path, _ = _files(tmp_path)
    np.save(tmp_path / "short.npy", np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="must be 30 integers"):
        VectorFileDataModule(x_path, str(tmp_path / "short.npy")).setup()
    with pytest.raises(ValueError, match="val_fraction"):
        VectorFileDataModule(x_path, val_fraction=1.0)


def test_knn_probe_scores_the_eval_mode_embeddings_and_restores_the_mode(tmp_path) -> None:
    from selfsup.metrics import knn_accuracy

    x_path, y_path = _files(tmp_path, n=60)
    dm = VectorFileDataModule(x_path, y_path, val_fraction=0.25, batch_size=16)
    dm.setup("fit")
    torch.manual_seed(0)
    method = TemplateMethod(num_features=16)
    acc = knn_probe(method, dm.val_dataloader(), dm.val_dataloader(), k=1)
    assert acc == 1.0  # every query finds itself in the bank
    acc = knn_probe(method, dm.train_dataloader(), dm.val_dataloader(), k=5)
    assert method.training
    method.eval()
    with torch.no_grad():
        bank = [(method.embed(x), y) for x, y in dm.train_dataloader()]
        query = [(method.embed(x), y) for x, y in dm.val_dataloader()]
    want = knn_accuracy(
        torch.cat([f for f, _ in bank]),
        torch.cat([y for _, y in bank]),
        torch.cat([f for f, _ in query]),
        torch.cat([y for _, y in query]),
        k=5,
    )
    assert acc == pytest.approx(want)

"""EmbeddingModule and embed_to_file: a data module's samples through Method.embed into a file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightning.pytorch import LightningDataModule

from selfsup.experiment.embedding import EmbeddingModule, embed_to_file, load_weights
from selfsup.export import read_embeddings
from selfsup.testing.boring import BoringDataModule, BoringMethod, boring_task


def test_every_sample_is_embedded_once_with_the_methods_embed(tmp_path):
    method, data = BoringMethod().eval(), BoringDataModule(num_samples=37, batch_size=8)
    out = embed_to_file(method, data, tmp_path / "e.npy", progress_bar=False, accelerator="cpu")
    ids, vectors = read_embeddings(out)
    assert ids == list(range(37))
    with torch.no_grad():
        expected = method.embed(data.dataset.tensors[0])
    np.testing.assert_allclose(vectors, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_limit_batches(tmp_path):
    out = embed_to_file(
        BoringMethod(),
        BoringDataModule(num_samples=40, batch_size=8),
        tmp_path / "e.npy",
        progress_bar=False,
        accelerator="cpu",
        limit_batches=2,
    )
    assert len(read_embeddings(out)[0]) == 16


def test_data_without_predict_loader_is_refused(tmp_path):
    with pytest.raises(TypeError, match="predict_dataloader"):
        embed_to_file(BoringMethod(), LightningDataModule(), tmp_path / "e.npy")


def test_a_failing_method_leaves_no_file(tmp_path):
    class Broken(BoringMethod):
        def embed(self, batch):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        embed_to_file(Broken(), BoringDataModule(), tmp_path / "e.npy", progress_bar=False)
    assert list(tmp_path.glob("*.npy")) == [] and list(tmp_path.glob(".*partial")) == []


def test_predict_step_refuses_plain_tensors():
    with pytest.raises(TypeError, match="EmbeddingBatch"):
        EmbeddingModule(BoringMethod()).predict_step(torch.zeros(2, 16), 0)


def test_load_weights_checks_the_checkpoint(tmp_path):
    from selfsup.experiment import SSLModule

    module = SSLModule([boring_task()])
    torch.save({"state_dict": module.state_dict()}, tmp_path / "ok.ckpt")
    fresh = SSLModule([boring_task()])
    load_weights(fresh, tmp_path / "ok.ckpt")
    for key, value in module.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)
    torch.save({"weights": 1}, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match="not a Lightning checkpoint"):
        load_weights(fresh, tmp_path / "bad.ckpt")
    torch.save({"state_dict": {"tasks.other.w": torch.zeros(1)}}, tmp_path / "wrong.ckpt")
    with pytest.raises(ValueError, match="does not fit"):
        load_weights(fresh, tmp_path / "wrong.ckpt")
    with pytest.raises(FileNotFoundError):
        load_weights(fresh, tmp_path / "absent.ckpt")

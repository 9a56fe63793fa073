"""Embedding files: every row once, in chunks, whole or not at all."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import torch

from selfsup.export import EmbeddingFile, read_embeddings

pytest.importorskip("pyarrow")


def _write(path, batches, **kwargs):
    with EmbeddingFile(path, **kwargs) as out:
        for ids, vectors in batches:
            out.write(ids, vectors)
    return out


@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_rows_survive_chunking(tmp_path, suffix, chunk_rows):
    gen = torch.Generator().manual_seed(0)
    batches = [
        (torch.arange(s, s + n), torch.randn(n, 3, generator=gen)) for s, n in ((0, 3), (3, 2))
    ]
    out = _write(tmp_path / f"e{suffix}", batches, chunk_rows=chunk_rows, metadata={"task": "t"})
    assert out.rows == 5
    ids, vectors = read_embeddings(tmp_path / f"e{suffix}")
    assert ids == [0, 1, 2, 3, 4]
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, torch.cat([b[1] for b in batches]).numpy())


def test_parquet_layout_and_metadata(tmp_path):
    import pyarrow.parquet as pq

    _write(tmp_path / "e.parquet", [(["a.png", "b.png"], torch.ones(2, 4))], metadata={"m": 1})
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.schema.field("id").type == "string"
    assert table.schema.field("embedding").type.list_size == 4
    meta = json.loads(table.schema.metadata[b"selfsup"])
    assert meta == {"m": 1, "dim": 4}
    assert read_embeddings(tmp_path / "e.parquet")[0] == ["a.png", "b.png"]


def test_npy_files_load_without_pickle(tmp_path):
    _write(tmp_path / "e.npy", [(["x", "y"], np.zeros((2, 2), np.float64))], metadata={"m": 2})
    assert np.load(tmp_path / "e.npy", allow_pickle=False).shape == (2, 2)
    assert np.load(tmp_path / "e.ids.npy", allow_pickle=False).tolist() == ["x", "y"]
    meta = json.loads((tmp_path / "e.meta.json").read_text())
    assert meta == {"m": 2, "dim": 2, "rows": 2}


@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_empty_data_gives_an_empty_file(tmp_path, suffix):
    _write(tmp_path / f"e{suffix}", [])
    ids, vectors = read_embeddings(tmp_path / f"e{suffix}")
    assert ids == [] and vectors.shape[0] == 0


@pytest.mark.parametrize(
    ("batches", "match"),
    [
        ([([0, 1], torch.zeros(3, 2))], "2 ids but 3 embedding rows"),
        ([([0], torch.zeros(1, 2)), ([1], torch.zeros(1, 3))], "width changed"),
        ([([0, 1], torch.tensor([[0.0], [float("nan")]]))], r"non-finite embeddings for ids \[1\]"),
        ([([0], torch.zeros(1, 2)), ([0], torch.zeros(1, 2))], "id 0 appears twice"),
        ([([0], torch.zeros(1, 2)), (["a"], torch.zeros(1, 2))], "changed kind"),
        ([([0], torch.zeros(2))], r"\(B, D\)"),
    ],
)
def test_bad_batches_write_nothing(tmp_path, batches, match):
    with pytest.raises(ValueError, match=match):
        _write(tmp_path / "e.parquet", batches, chunk_rows=1)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    _write(tmp_path / "e.npy", [([0], torch.zeros(1, 2))])
    with pytest.raises(FileExistsError, match="overwrite"):
        EmbeddingFile(tmp_path / "e.npy")
    with pytest.raises(RuntimeError):
        with EmbeddingFile(tmp_path / "e.npy", overwrite=True, chunk_rows=1) as out:
            out.write([5], torch.ones(1, 2))
            raise RuntimeError("killed mid-way")
    ids, vectors = read_embeddings(tmp_path / "e.npy")
    assert ids == [0] and vectors.sum() == 0  # the old file, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.ids.npy", "e.meta.json", "e.npy"]


def test_bad_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.parquet or \.npy"):
        EmbeddingFile(tmp_path / "e.csv")


def test_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        _write(tmp_path / "e.parquet", [([0], torch.zeros(1, 2))])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "e.parquet").stat().st_mode) == 0o644

"""Tests for selfsup.data.paired (manifest of paired samples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.data import PairedManifestDataModule


def _manifest(tmp_path: Path, rows: int = 10) -> Path:
    (tmp_path / "audio").mkdir()
    lines = ["clip,attrs,label"]
    for i in range(rows):
        np.save(tmp_path / "audio" / f"{i}.npy", np.full(4, i, dtype=np.float32))
        torch.save(torch.full((2,), float(i)), tmp_path / f"row{i}.pt")
        lines.append(f"audio/{i}.npy,{tmp_path / f'row{i}.pt'},{i % 2}")
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pairs_stay_aligned_through_split_and_batches(tmp_path: Path) -> None:
    data = PairedManifestDataModule(
        _manifest(tmp_path), columns=("clip", "attrs"), batch_size=3, val_fraction=0.2
    )
    data.setup("fit")
    assert len(data.train_set) == 8 and len(data.val_set) == 2
    seen = []
    for loader in (data.train_dataloader(), data.val_dataloader()):
        for batch in loader:
            assert set(batch) == {"clip", "attrs"}
            assert batch["clip"].shape[1:] == (4,) and batch["attrs"].shape[1:] == (2,)
            torch.testing.assert_close(batch["clip"][:, 0], batch["attrs"][:, 0])
            seen += batch["clip"][:, 0].tolist()
    assert len(set(seen)) >= 8  # train drops its last partial batch only


def test_custom_reader_and_collate(tmp_path: Path) -> None:
    data = PairedManifestDataModule(
        _manifest(tmp_path, rows=4),
        columns=("clip", "label"),
        readers={"label": lambda cell: int(cell)},
        collate={"label": lambda items: torch.tensor(items)},
        batch_size=4,
        val_fraction=0.0,
    )
    batch = next(iter(data.train_dataloader()))
    torch.testing.assert_close(batch["label"], batch["clip"][:, 0].long() % 2)
    assert data.val_dataloader() == []


def test_bad_manifests_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PairedManifestDataModule(tmp_path / "missing.csv").setup()
    path = _manifest(tmp_path, rows=2)
    with pytest.raises(ValueError, match=r"no column\(s\) \['a'\]"):
        PairedManifestDataModule(path, columns=("a", "clip")).setup()
    empty = tmp_path / "empty.csv"
    empty.write_text("clip,attrs\n")
    with pytest.raises(ValueError, match="lists no pairs"):
        PairedManifestDataModule(empty, columns=("clip", "attrs")).setup()
    holes = tmp_path / "holes.csv"
    holes.write_text("clip,attrs\naudio/0.npy,\n")
    with pytest.raises(ValueError, match="line 2: empty cell"):
        PairedManifestDataModule(holes, columns=("clip", "attrs")).setup()
    broken = tmp_path / "broken.csv"
    broken.write_text("clip,attrs\naudio/0.npy,nothing.txt\n")
    data = PairedManifestDataModule(broken, columns=("clip", "attrs"), val_fraction=0.0)
    data.setup()
    with pytest.raises(ValueError, match=r"row 2, column 'attrs' \('nothing.txt'\)"):
        data.train_set[0]

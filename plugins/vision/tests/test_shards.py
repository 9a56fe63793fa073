"""Images streamed from tar shards: packing a folder, decoding, bad images, training on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.data.shards import read_index, write_shards
from selfsup.experiment import SSLModule, Task
from selfsup.testing.boring import quiet_trainer
from selfsup_vision.data import BadImageError, ImageShardsDataModule, write_image_shards
from selfsup_vision.methods import SimCLR


def _folder(root: Path, per_class: int = 6, size: tuple[int, int] = (12, 10)) -> Path:
    rng = np.random.default_rng(0)
    for label, tint in (("cat", 30), ("dog", 220)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(tint, 20, (*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def test_a_folder_packs_into_shards_and_streams_back(tmp_path: Path) -> None:
    shards = write_image_shards(_folder(tmp_path / "images"), tmp_path / "shards", 4)
    assert (
        [s.count for s in shards]
        == [4, 4, 4]
        == [s.count for s in read_index(shards[0].path.parent)]
    )
    data = ImageShardsDataModule(str(tmp_path / "shards"), batch_size=4, shuffle=False)
    data.setup("fit")
    batches = list(data.train_dataloader())
    images = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    assert images.shape == (12, 3, 12, 10) and images.dtype == torch.float32
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    # the stored bytes are the PNG files: lossless, so the dark class decodes dark
    assert sorted(labels.tolist()) == [0] * 6 + [1] * 6
    dark = images[labels == 0].mean()
    assert float(dark) < 0.3 < float(images[labels == 1].mean())


def test_image_size_resizes_and_crops_to_a_square(tmp_path: Path) -> None:
    write_image_shards(_folder(tmp_path / "images", size=(20, 30)), tmp_path / "shards", 6)
    data = ImageShardsDataModule(str(tmp_path / "shards"), batch_size=3, image_size=8)
    data.setup("fit")
    images, _ = next(iter(data.train_dataloader()))
    assert images.shape == (3, 3, 8, 8)


def test_a_corrupt_image_is_named(tmp_path: Path) -> None:
    write_shards([{"__key__": "000007", "jpg": b"not a jpeg", "cls": "1"}], tmp_path)
    data = ImageShardsDataModule(str(tmp_path), batch_size=1)
    data.setup("fit")
    with pytest.raises(BadImageError, match=r"000007\.jpg \(shard\)"):
        next(iter(data.train_dataloader()))
    write_shards([{"__key__": "000008", "txt": b"hello"}], tmp_path / "no_image")
    data = ImageShardsDataModule(str(tmp_path / "no_image"), batch_size=1)
    data.setup("fit")
    with pytest.raises(ValueError, match="no image field"):
        next(iter(data.train_dataloader()))


def test_a_relative_folder_needs_a_data_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    with pytest.raises(Exception, match="SELFSUP_DATA"):
        ImageShardsDataModule("shards", batch_size=2).setup("fit")


def test_simclr_trains_on_streamed_shards(tmp_path: Path) -> None:
    write_image_shards(_folder(tmp_path / "images", size=(16, 16)), tmp_path / "shards", 3)
    data = ImageShardsDataModule(str(tmp_path / "shards"), batch_size=4, num_workers=2)
    method = SimCLR(backbone="small_convnet", width=8, hidden_dim=16, projection_dim=8)
    trainer = quiet_trainer(max_steps=3, max_epochs=-1)
    trainer.fit(SSLModule([Task("shards", method, data)]))
    assert trainer.global_step == 3
    assert torch.isfinite(trainer.callback_metrics["train/loss"])

"""Image data modules: folders, torchvision datasets, RGB policy and bad files."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from selfsup.data import DataRootError, EmbeddingBatch
from selfsup_vision.data import (
    ImageFolderDataModule,
    TorchvisionDataModule,
    load_image,
    scan_folder,
    to_rgb,
)


def _tree(root, size: int = 8, modes: tuple[str, ...] = ("RGB",)) -> None:  # type: ignore[no-untyped-def]
    for split in ("train", "test"):
        for c, name in enumerate(("cat", "dog")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(4):
                mode = modes[i % len(modes)]
                color = (40 * c + 10 * i, 100, 200, 128)[: len(mode)] if mode != "L" else 90
                Image.new(mode, (size, size), color).save(folder / f"{i}.png")


def _module(root, **kw: object) -> ImageFolderDataModule:  # type: ignore[no-untyped-def]
    args = {"root": str(root), "batch_size": 2, "image_size": 8}
    args.update(kw)
    return ImageFolderDataModule(**args)  # type: ignore[arg-type]


def test_folder_batches_and_probe_loaders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path)
    dm = _module(tmp_path, in_memory=True)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 8, 8) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert dm.classes == ["cat", "dog"]
    train, test = dm.probe_dataloaders()
    assert len(train.dataset) == 8 and len(test.dataset) == 8
    labels = torch.cat([b[1] for b in test])
    assert sorted(labels.tolist()) == [0] * 4 + [1] * 4


def test_in_memory_batches_equal_the_decoded_images(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The batched gather from the uint8 cache gives what per-image decoding gives, in loader order.
    _tree(tmp_path)
    cached = _module(tmp_path, in_memory=True)
    plain = _module(tmp_path, in_memory=False)
    images, labels = cached.cached_tensors("train")
    assert images.dtype == torch.uint8 and images.shape == (8, 3, 8, 8) and labels.shape == (8,)
    for (xa, ya), (xb, yb) in zip(cached.train_dataloader(), plain.train_dataloader(), strict=True):
        torch.testing.assert_close(xa, xb, atol=0.5 / 255, rtol=0)
        assert ya.tolist() == yb.tolist() and ya.dtype == torch.int64
    assert cached.cached_tensors("train")[0] is images  # decoded once
    assert cached.cached_tensors("val")[0].shape == (8, 3, 8, 8)
    with pytest.raises(ValueError, match="split"):
        cached.cached_tensors("test")  # type: ignore[arg-type]


def test_views_mode_and_multicrop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path, size=12)
    dm = _module(tmp_path, mode="views", views="byol-cifar", num_local_crops=2, local_size=4)
    batch = next(iter(dm.train_dataloader()))
    assert [tuple(v.shape) for v in batch["views"]] == [(2, 3, 8, 8)] * 2 + [(2, 3, 4, 4)] * 2
    assert batch["labels"].shape == (2,)


def test_grayscale_and_rgba_are_converted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path, modes=("L", "RGBA", "P"))
    x, _ = next(iter(_module(tmp_path).probe_dataloaders()[0]))
    assert x.shape == (2, 3, 8, 8)
    gray = load_image(str(tmp_path / "train" / "cat" / "0.png"), "convert")
    assert gray.mode == "RGB" and gray.getpixel((0, 0)) == (90, 90, 90)
    # Transparent pixels are composited on white, not shown with their stored colour.
    rgba = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)


def test_strict_rgb_policy_rejects_grayscale(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path, modes=("L",))
    with pytest.raises(ValueError, match="mode 'L', not RGB"):
        next(iter(_module(tmp_path, rgb="error").train_dataloader()))


def test_corrupt_file_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path)
    bad = tmp_path / "train" / "cat" / "0.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"cannot decode image .*0\.png"):
        _module(tmp_path, in_memory=True).train_dataloader()


def test_too_small_images_raise_unless_resized(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path, size=6)
    with pytest.raises(ValueError, match="smaller than image_size=8; set resize=True"):
        next(iter(_module(tmp_path).train_dataloader()))
    x, _ = next(iter(_module(tmp_path, resize=True).train_dataloader()))
    assert x.shape == (2, 3, 8, 8)


def test_missing_folder_says_how_to_fix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileNotFoundError, match="SELFSUP_DATA"):
        _module(tmp_path / "nowhere").train_dataloader()


def test_any_torchvision_dataset_object() -> None:
    from torchvision.datasets import FakeData

    train = FakeData(size=6, image_size=(3, 10, 10), num_classes=3)
    test = FakeData(size=4, image_size=(3, 10, 10), num_classes=3, random_offset=7)
    dm = TorchvisionDataModule(train, test, image_size=8, batch_size=3)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (3, 3, 8, 8) and y.dtype == torch.long
    gray = TorchvisionDataModule(train, test, image_size=8, batch_size=3, in_channels=1)
    assert next(iter(gray.probe_dataloaders()[1]))[0].shape == (3, 1, 8, 8)


# -- data root -------------------------------------------------------------------------------------
def test_relative_root_needs_a_data_root(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path / "pets")
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    dm = ImageFolderDataModule(root="pets", image_size=8)
    with pytest.raises(DataRootError, match=r"data_root=.*SELFSUP_DATA.*absolute path"):
        dm.setup()
    monkeypatch.setenv("SELFSUP_DATA", str(tmp_path))
    assert ImageFolderDataModule(root="pets", image_size=8).folder() == str(tmp_path / "pets")
    explicit = ImageFolderDataModule(root="pets", data_root=str(tmp_path / "nowhere"))
    with pytest.raises(DataRootError, match="does not exist"):
        explicit.setup()  # an explicit data_root wins over SELFSUP_DATA


# -- embedding: predict_dataloader -----------------------------------------------------------------
def _predict(dm) -> tuple[list, torch.Tensor]:  # type: ignore[no-untyped-def]
    ids, images = [], []
    for batch in dm.predict_dataloader():
        assert isinstance(batch, EmbeddingBatch)
        ids += batch.ids.tolist() if isinstance(batch.ids, torch.Tensor) else list(batch.ids)
        images.append(batch.inputs)
    return ids, torch.cat(images)


def test_predict_embeds_every_file_once_with_relative_paths(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path)
    dm = _module(tmp_path, batch_size=3, train_subset=2, mode="views")  # neither applies
    ids, images = _predict(dm)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert sorted(ids) == files and len(ids) == 16  # every file once, the last batch kept
    assert ids[:2] == ["train/cat/0.png", "train/cat/1.png"] and ids[8] == "test/cat/0.png"
    # un-augmented: the decoded file itself, as the probes see it
    expected = torch.tensor([60 / 255, 100 / 255, 200 / 255])  # train/dog/2.png: 40 + 2 * 10
    torch.testing.assert_close(images[ids.index("train/dog/2.png"), :, 0, 0], expected)
    torch.testing.assert_close(_predict(dm)[1], images)
    assert _predict(_module(tmp_path, predict_split="val"))[0] == ids[8:]
    assert _predict(_module(tmp_path, predict_split="train"))[0] == ids[:8]


def test_flat_folder_of_photos(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for i, size in enumerate([(12, 9), (9, 12), (16, 16)]):
        Image.new("RGB", size, (10 * i, 0, 0)).save(tmp_path / f"photo{i}.jpg")
    (tmp_path / "._photo0.jpg").write_bytes(b"macOS sidecar, not an image")
    dm = ImageFolderDataModule(
        root=str(tmp_path), train_dir=".", val_dir=None, image_size=8, resize=True, batch_size=2
    )
    ids, images = _predict(dm)
    assert ids == ["photo0.jpg", "photo1.jpg", "photo2.jpg"] and images.shape == (3, 3, 8, 8)
    assert dm.classes == [] and next(iter(dm.train_dataloader()))[1].tolist() == [-1, -1]
    with pytest.raises(RuntimeError, match="no class folders"):
        dm.probe_dataloaders()
    (tmp_path / "album").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "album" / "a.png")
    with pytest.raises(ValueError, match="both images .* and class folders"):
        scan_folder(str(tmp_path), "auto")
    assert len(scan_folder(str(tmp_path), "flat")[0]) == 3
    album = [(str(tmp_path / "album" / "a.png"), 0)]
    assert scan_folder(str(tmp_path), "classes") == (album, ["album"])


def test_any_subfolders_of_a_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the "your own data" layout: <root>/<anything>/<image>, no split folders
    for album in ("2023", "2024"):
        (tmp_path / album).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8)).save(tmp_path / album / f"{i}.png")
    dm = ImageFolderDataModule(root=str(tmp_path), train_dir=".", val_dir=None, image_size=8)
    assert _predict(dm)[0] == ["2023/0.png", "2023/1.png", "2024/0.png", "2024/1.png"]


def test_predict_on_torchvision_datasets_and_embed() -> None:
    from torchvision.datasets import FakeData

    from selfsup_vision.methods import SimCLR

    train = FakeData(size=5, image_size=(3, 10, 10), num_classes=3)
    test = FakeData(size=3, image_size=(3, 10, 10), num_classes=3, random_offset=7)
    dm = TorchvisionDataModule(train, test, image_size=8, batch_size=3, train_subset=2)
    ids, images = _predict(dm)
    assert ids == list(range(8)) and images.shape == (8, 3, 8, 8)
    assert _predict(TorchvisionDataModule(train, test, image_size=8, predict_split="val"))[0] == [
        0,
        1,
        2,
    ]
    with pytest.raises(ValueError, match="no validation data"):
        TorchvisionDataModule(train, image_size=8, predict_split="val").predict_dataloader()
    method = SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=8).eval()
    batch = next(iter(dm.predict_dataloader()))
    with torch.no_grad():
        assert method.embed(batch.inputs).shape == (len(batch.ids), 8)

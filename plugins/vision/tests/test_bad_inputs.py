"""Bad inputs: files, folders, data-module settings, datasets and batches a stranger may hand us.

Every case asserts the clear error (its message: what is wrong, where, how to fix it) or the
documented behaviour (a defined conversion, a warning with counts). The README's "Bad input"
section lists them.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.checks import set_finite_checks
from selfsup.experiment.method import MalformedBatchError
from selfsup_vision.batch import parse_image_batch
from selfsup_vision.data import (
    BadImageError,
    ImageFolderDataModule,
    TorchvisionDataModule,
    load_image,
    scan_folder,
    to_rgb,
)
from selfsup_vision.encoders import ViTEncoder
from selfsup_vision.methods import MAE, SimCLR


# -- helpers ---------------------------------------------------------------------------------------
def _image(
    path: Path, mode: str = "RGB", size: tuple[int, int] = (8, 8), color: Any = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if color is None:
        color = (90, 120, 150, 255)[: len(mode)] if mode in ("RGB", "RGBA") else 90
    Image.new(mode, size, color).save(path)
    return path


def _folder(root: Path, per_class: int = 2, classes: tuple[str, ...] = ("cat", "dog")) -> Path:
    """``root/<class>/<i>.png``: 8x8 RGB images."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            _image(root / name / f"{i}.png", color=(60 * c, 20 * i, 200))
    return root


def _module(root: Path, **kw: Any) -> ImageFolderDataModule:
    """A data module reading ``root`` itself (no split folders), 8x8 images, batches of 2."""
    args: dict[str, Any] = {
        "root": str(root),
        "train_dir": ".",
        "val_dir": None,
        "image_size": 8,
        "batch_size": 2,
    }
    args.update(kw)
    return ImageFolderDataModule(**args)


def _embed_all(dm: Any) -> list[Any]:
    """Every id ``predict_dataloader`` yields (decodes every file)."""
    return [i for batch in dm.predict_dataloader() for i in batch.ids]


def _noise(size: int = 32) -> Image.Image:
    gen = np.random.default_rng(0)
    return Image.fromarray(gen.integers(0, 256, size=(size, size, 3), dtype=np.uint8))


def _cut_in_half(path: Path, suffix: str) -> None:
    full = path.with_suffix(".full" + suffix)
    _noise().save(full)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) // 2])


def _simclr() -> SimCLR:
    return SimCLR(backbone="small_convnet", width=4, feature_dim=8, hidden_dim=16, projection_dim=8)


# -- corrupt files ---------------------------------------------------------------------------------
CORRUPT: dict[str, Callable[[Path], Any]] = {
    "text.png": lambda p: p.write_text("a text file with an image extension"),
    "empty.png": lambda p: p.write_bytes(b""),
    "truncated.jpg": lambda p: _cut_in_half(p, ".jpg"),
    "truncated.png": lambda p: _cut_in_half(p, ".png"),
    "garbage.webp": lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 40),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_file_is_refused_naming_it(tmp_path: Path, name: str) -> None:
    _folder(tmp_path)
    CORRUPT[name](tmp_path / "cat" / name)
    pattern = rf"cannot decode image '.*cat/{re.escape(name)}' .*delete or replace it"
    with pytest.raises(BadImageError, match=pattern):
        _embed_all(_module(tmp_path))
    with pytest.raises(BadImageError, match=pattern):  # the in-memory cache decodes at once
        _module(tmp_path, in_memory=True).train_dataloader()


def test_decompression_bomb_error_names_the_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _folder(tmp_path)  # 64-pixel images
    bomb = _image(tmp_path / "cat" / "bomb.png", size=(40, 40))  # 1,600 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # PIL refuses above 2 x 500
    pattern = r"image '.*cat/bomb\.png' declares 1600 pixels.*MAX_IMAGE_PIXELS"
    with pytest.raises(BadImageError, match=pattern):
        load_image(str(bomb))
    with pytest.raises(BadImageError, match=pattern):
        _embed_all(_module(tmp_path))


def test_decompression_bomb_warning_names_the_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bomb = _image(tmp_path / "bomb.png", size=(40, 40))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # between 1x and 2x: PIL warns, decodes
    with pytest.warns(Image.DecompressionBombWarning, match=r"image '.*bomb\.png' declares 1600"):
        assert load_image(str(bomb)).size == (40, 40)


def test_skip_bad_files_warns_with_counts_and_uses_the_rest(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=3)
    (tmp_path / "cat" / "x.png").write_text("not an image")
    (tmp_path / "dog" / "y.jpg").write_bytes(b"")
    dm = _module(tmp_path, bad_files="skip")
    with pytest.warns(UserWarning, match=r"skipped 2 of 8 image files .*cat/x\.png.*dog/y\.jpg"):
        dm.setup("fit")
    ids = _embed_all(dm)
    assert len(ids) == 6 and "cat/x.png" not in ids and "dog/y.jpg" not in ids
    assert sum(len(x) for x, _ in dm.train_dataloader()) == 6


def test_skip_bad_files_with_nothing_left_raises(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_text("not an image")
    with pytest.warns(UserWarning, match="skipped 1 of 1"):
        with pytest.raises(FileNotFoundError, match="no decodable images"):
            _module(tmp_path, bad_files="skip").setup("fit")


def test_file_deleted_after_the_scan_names_it(tmp_path: Path) -> None:
    _folder(tmp_path)
    dm = _module(tmp_path)
    dm.setup("fit")
    (tmp_path / "dog" / "1.png").unlink()
    with pytest.raises(BadImageError, match=r"cannot read image '.*dog/1\.png'.*no longer exists"):
        _embed_all(dm)


# -- image modes: documented conversions -----------------------------------------------------------
def _uint16(path: Path, values: list[list[int]]) -> Path:
    Image.fromarray(np.asarray(values, dtype=np.uint16)).save(path)
    return path


def _rgb48(path: Path, pixel: tuple[int, int, int]) -> Path:
    """A 16-bit-per-channel RGB PNG (PIL cannot write one), every pixel ``pixel``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + struct.pack(">HHH", *pixel) * 8
    header = struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0)  # 8x8, 16 bits, truecolour
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * 8)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _animated(path: Path) -> Path:
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    red.save(path, save_all=True, append_images=[blue])
    return path


CONVERSIONS: list[tuple[str, Callable[[Path], Path], tuple[int, int, int]]] = [
    ("L", lambda d: _image(d / "g.png", "L", color=90), (90, 90, 90)),
    ("1", lambda d: _image(d / "b.png", "1", color=1), (255, 255, 255)),
    # alpha: composited on white, so fully transparent pixels are white whatever is stored
    ("LA transparent", lambda d: _image(d / "la.png", "LA", color=(10, 0)), (255, 255, 255)),
    ("LA opaque", lambda d: _image(d / "la.png", "LA", color=(10, 255)), (10, 10, 10)),
    ("RGBA", lambda d: _image(d / "a.png", "RGBA", color=(0, 0, 0, 0)), (255, 255, 255)),
    ("CMYK white", lambda d: _image(d / "c.tif", "CMYK", color=(0, 0, 0, 0)), (255, 255, 255)),
    ("CMYK black", lambda d: _image(d / "k.tif", "CMYK", color=(0, 0, 0, 255)), (0, 0, 0)),
    # 16 bits: the full range 0..65535 maps to 0..255 (x / 257), the same for every image
    ("I;16 dark", lambda d: _uint16(d / "d.png", [[4000] * 8] * 8), (16, 16, 16)),
    ("I;16 range", lambda d: _uint16(d / "r.png", [[65535, 32896] * 4] * 8), (255, 255, 255)),
    ("RGB 16-bit", lambda d: _rgb48(d / "c.png", (65535, 32896, 0)), (255, 128, 0)),
    ("animated GIF", lambda d: _animated(d / "a.gif"), (255, 0, 0)),  # the first frame
]


@pytest.mark.parametrize(("case", "write", "pixel"), CONVERSIONS, ids=[c[0] for c in CONVERSIONS])
def test_image_modes_convert_to_rgb_as_documented(
    tmp_path: Path, case: str, write: Callable[[Path], Path], pixel: tuple[int, int, int]
) -> None:
    image = load_image(str(write(tmp_path)), "convert")
    assert image.mode == "RGB" and image.getpixel((0, 0)) == pixel


def test_16_bit_images_keep_their_level_in_rgb_and_grayscale(tmp_path: Path) -> None:
    _uint16(tmp_path / "half.png", [[32896, 0] * 4] * 8)  # 32896 = 128 * 257
    rgb = TorchvisionDataModule(image_size=8)
    gray = TorchvisionDataModule(image_size=8, in_channels=1)
    raw = load_image(str(tmp_path / "half.png"), None)
    assert raw.mode.startswith("I;16")
    assert rgb.prepare(raw).getpixel((0, 0)) == (128, 128, 128)
    assert gray.prepare(raw).getpixel((0, 0)) == 128  # not clipped to 255 by convert("L")
    # grayscale from RGBA composites on white too (not the colour under transparent pixels)
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert gray.prepare(clear).getpixel((0, 0)) == 255


def test_float_and_out_of_range_int_images_are_refused(tmp_path: Path) -> None:
    Image.new("F", (8, 8), 0.5).save(tmp_path / "depth.tif")
    with pytest.raises(BadImageError, match=r"'.*depth\.tif' is a 32-bit floating-point image"):
        load_image(str(tmp_path / "depth.tif"), "convert")
    Image.new("I", (8, 8), 70000).save(tmp_path / "counts.tif")
    with pytest.raises(BadImageError, match=r"counts\.tif.* values up to 70000.*0\.\.65535"):
        load_image(str(tmp_path / "counts.tif"), "convert")
    Image.new("I", (8, 8), 4000).save(tmp_path / "ok.tif")
    assert load_image(str(tmp_path / "ok.tif"), "convert").getpixel((0, 0)) == (16, 16, 16)
    with pytest.raises(BadImageError, match=r"mode 'LAB'.*ImageCms"):
        to_rgb(Image.new("LAB", (2, 2), (50, 0, 0)), where="image 'lab.tif'")


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": a portrait phone photo
    Image.new("RGB", (16, 8), (200, 0, 0)).save(tmp_path / "portrait.jpg", exif=exif)
    assert load_image(str(tmp_path / "portrait.jpg")).size == (8, 16)  # as viewers show it


def test_strict_rgb_policy_refuses_grayscale_naming_the_file(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "g.png", "L")
    _image(tmp_path / "a" / "h.png", "L")
    with pytest.raises(ValueError, match=r"image '.*/a/[gh]\.png' has mode 'L', not RGB; use rgb="):
        next(iter(_module(tmp_path, rgb="error").train_dataloader()))


# -- folders ---------------------------------------------------------------------------------------
def test_empty_class_folder_warns_and_keeps_its_label(tmp_path: Path) -> None:
    _folder(tmp_path)
    (tmp_path / "zebra").mkdir()
    (tmp_path / "zebra" / "nested").mkdir()
    _image(tmp_path / "zebra" / "nested" / "deep.png")  # one level deep only
    with pytest.warns(UserWarning, match=r"1 class folder\(s\) hold no images: \['zebra'\]"):
        samples, classes = scan_folder(str(tmp_path), "classes")
    assert classes == ["cat", "dog", "zebra"] and {y for _, y in samples} == {0, 1}


def test_hidden_folders_are_not_classes(tmp_path: Path) -> None:
    _folder(tmp_path)
    _image(tmp_path / ".ipynb_checkpoints" / "0-checkpoint.png")
    samples, classes = scan_folder(str(tmp_path), "auto")
    assert classes == ["cat", "dog"] and len(samples) == 4


def test_folder_without_images_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no images under .*expected root/<class>/<image>"):
        scan_folder(str(tmp_path), "classes")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "IMG_1.HEIC").write_bytes(b"x")
    with pytest.warns(UserWarning, match=r"ignored 2 file\(s\) without an image extension"):
        with pytest.raises(FileNotFoundError, match=r"no images under .*layout='auto'"):
            scan_folder(str(tmp_path), "auto")


def test_files_without_an_image_extension_are_counted(tmp_path: Path) -> None:
    _folder(tmp_path)
    (tmp_path / "cat" / "IMG_2.HEIC").write_bytes(b"x")
    with pytest.warns(UserWarning, match=r"ignored 1 file\(s\) .*'cat/IMG_2\.HEIC'.*\.jpg"):
        samples, _ = scan_folder(str(tmp_path), "auto")
    assert len(samples) == 4


def test_loose_images_beside_class_folders_are_refused(tmp_path: Path) -> None:
    _folder(tmp_path)
    _image(tmp_path / "stray.png")
    with pytest.raises(ValueError, match=r"holds both images .*stray\.png.* and class folders"):
        _module(tmp_path).setup("fit")


def test_missing_folder_and_differing_classes(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"image folder .*nowhere.* not found"):
        _module(tmp_path / "nowhere").setup("fit")
    _folder(tmp_path / "train")
    _folder(tmp_path / "test", classes=("cat", "cow"))
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=8, batch_size=2)
    with pytest.raises(ValueError, match=r"class folders differ between 'train' and 'test'"):
        dm.setup("fit")


def test_image_smaller_than_the_crop_is_refused_naming_it(tmp_path: Path) -> None:
    _folder(tmp_path)
    _image(tmp_path / "cat" / "tiny.png", size=(8, 5))
    with pytest.raises(ValueError, match=r"cat/tiny\.png' is 8x5, smaller than image_size=8"):
        _embed_all(_module(tmp_path))
    assert len(_embed_all(_module(tmp_path, resize=True))) == 5


# -- batch sizes: the last batch and tiny data sets ------------------------------------------------
def test_batch_size_plus_one_images_train_a_whole_epoch(tmp_path: Path) -> None:
    from lightning.pytorch import Trainer

    from selfsup.experiment import SSLModule, Task

    _folder(tmp_path, per_class=1, classes=("a", "b", "c"))  # 3 images, batches of 2
    data = _module(tmp_path)
    module = SSLModule([Task("photos", _simclr(), data)])
    trainer = Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module)  # the last batch of 1 image is dropped, not fed to SimCLR
    assert trainer.global_step == 1 and trainer.current_epoch == 1


def test_fewer_images_than_one_batch_fail_at_setup(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=1, classes=("a", "b", "c"))
    dm = _module(tmp_path, batch_size=4)
    message = r"found 3 training images under .*, fewer than batch_size=4.*at most 3"
    with pytest.raises(ValueError, match=message):
        dm.setup("fit")
    assert len(_embed_all(_module(tmp_path, batch_size=4))) == 3  # embedding drops nothing
    fake = torch.rand(3, 3, 8, 8)
    items = list(zip(fake, range(3), strict=True))
    small = TorchvisionDataModule(items, image_size=8, batch_size=5)
    with pytest.raises(ValueError, match=r"found 3 training images in the training dataset"):
        small.train_dataloader()


def test_drop_last_false_keeps_the_single_image_batch_which_methods_refuse(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=1, classes=("a", "b", "c"))
    batches = list(_module(tmp_path, drop_last=False).train_dataloader())
    assert [len(x) for x, _ in batches] == [2, 1]
    with pytest.raises(MalformedBatchError, match=r"at least 2 images .*drop_last=True"):
        _simclr().training_losses(batches[-1])


# -- data-module settings --------------------------------------------------------------------------
SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"batch_size": 0}, r"batch_size must be a positive int, got 0"),
    ({"image_size": 0}, r"image_size must be a positive int, got 0"),
    ({"num_workers": -1}, r"num_workers must be >= 0, got -1"),
    ({"train_subset": 0}, r"train_subset must be a positive int or None, got 0"),
    ({"probe_val_size": 0}, r"probe_val_size must be a positive int, got 0"),
    ({"num_local_crops": -2}, r"num_local_crops must be >= 0, got -2"),
    ({"rgb": "rgba"}, r"rgb policy must be one of \('convert', 'error'\), got 'rgba'"),
    ({"layout": "tree"}, r"layout must be one of .*got 'tree'"),
    ({"in_channels": 2}, r"in_channels must be 1 or 3, got 2"),
    ({"mode": "patches"}, r"mode must be 'images' or 'views', got 'patches'"),
    ({"predict_split": "test"}, r"predict_split must be one of .*got 'test'"),
    ({"mode": "views", "views": "nope"}, r"unknown view preset 'nope'"),
    ({"bad_files": "ignore"}, r"bad_files must be 'error' or 'skip', got 'ignore'"),
    ({"drop_last": "yes"}, r"drop_last must be a bool, got 'yes'"),
]


@pytest.mark.parametrize(("kwargs", "message"), SETTINGS, ids=[str(s[0]) for s in SETTINGS])
def test_bad_settings_fail_at_construction(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _module(tmp_path, **kwargs)


# -- datasets handed to TorchvisionDataModule ------------------------------------------------------
DATASETS: list[tuple[str, list[Any], str]] = [
    ("bare images", [torch.rand(3, 4, 4)] * 2, r"item \d must be an \(image, label\) pair"),
    ("string label", [(torch.rand(3, 4, 4), "cat")] * 2, r"label of item \d must be an int"),
    ("nan pixels", [(torch.full((3, 4, 4), float("nan")), 0)] * 2, r"image \d has 48 NaN/inf"),
    ("0-255 floats", [(torch.full((3, 4, 4), 200.0), 0)] * 2, r"image \d has values in \[200, 200"),
    ("int32 tensor", [(torch.zeros(3, 4, 4, dtype=torch.int32), 0)] * 2, r"int32 tensor.*uint8"),
    ("wrong channels", [(torch.rand(4, 4, 4), 0)] * 2, r"expected a \(3, H, W\) tensor"),
]


@pytest.mark.parametrize(("case", "items", "message"), DATASETS, ids=[d[0] for d in DATASETS])
@pytest.mark.parametrize("in_memory", [False, True])
def test_bad_dataset_items_are_refused(
    case: str, items: list[Any], message: str, in_memory: bool
) -> None:
    data = TorchvisionDataModule(items, image_size=4, batch_size=2, in_memory=in_memory)
    with pytest.raises(ValueError, match=message):
        next(iter(data.train_dataloader()))


# -- batches reaching a method ---------------------------------------------------------------------
def _with(value: float, where: tuple[int, ...] = (1, 2, 3, 4)) -> torch.Tensor:
    x = torch.rand(4, 3, 8, 8)
    x[where] = value
    return x


BATCHES: list[tuple[str, Any, str]] = [
    ("nan image", (_with(float("nan")), None), r"1 NaN/inf value\(s\) in images"),
    ("inf view", {"views": [torch.rand(4, 3, 8, 8), _with(float("inf"))]}, r"1 NaN/inf .* view 1"),
    ("0-255 floats", _with(255.0), r"images in \[0, 1\], got values in \[.*, 255\]"),
    ("normalised", _with(-2.1), r"got values in \[-2\.1, .*drop the Normalize"),
    ("one channel", torch.rand(4, 1, 8, 8), r"shape \(B, 3, H, W\), got \(4, 1, 8, 8\)"),
    ("uint8", torch.zeros(4, 3, 8, 8, dtype=torch.uint8), r"floating-point images .*uint8"),
    ("one image", torch.rand(1, 3, 8, 8), r"at least 2 images per batch"),
    ("three items", [torch.rand(4, 3, 8, 8)] * 3, r"a list of length 3"),
    ("one view", {"views": [torch.rand(4, 3, 8, 8)]}, r"at least 2 views, got 1"),
]


@pytest.mark.parametrize(("case", "batch", "message"), BATCHES, ids=[b[0] for b in BATCHES])
def test_bad_batches_are_refused_before_the_encoder(case: str, batch: Any, message: str) -> None:
    method = _simclr()

    def encoder_ran(*_: Any) -> None:
        raise AssertionError("the encoder ran on a batch the batch check should have refused")

    method.encoder.register_forward_pre_hook(encoder_ran)
    with pytest.raises(MalformedBatchError, match=message):
        method.training_losses(batch)
    if case != "one image":  # embed takes any batch size
        with pytest.raises(MalformedBatchError, match=message):
            method.embed(batch)


def test_value_checks_follow_the_finite_checks_switch() -> None:
    batch = _with(float("nan"))
    set_finite_checks(False)
    try:  # switched off for throughput: the batch passes, as core's loss checks do
        assert parse_image_batch(batch, 3, "SimCLR").images is batch
    finally:
        set_finite_checks(True)
    with pytest.raises(MalformedBatchError, match="NaN/inf"):
        parse_image_batch(batch, 3, "SimCLR")


def test_vit_methods_refuse_other_image_sizes() -> None:
    vit = ViTEncoder(image_size=8, patch_size=2, hidden_size=16, num_layers=1, num_heads=2)
    mae = MAE(encoder=vit, decoder_dim=8, decoder_layers=1, decoder_heads=2)
    with pytest.raises(MalformedBatchError, match=r"MAE's ViT takes 8x8 images, got \(12, 12\)"):
        mae.training_losses(torch.rand(2, 3, 12, 12))

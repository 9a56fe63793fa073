"""The README's "Your own data" recipe, end to end: fit, embed (.npy and Parquet), export, load.

The YAML below is the README's, scaled down (a 4-wide SmallConvNet, 8x8 images, two steps);
the layout, the data module and the commands are the README's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from selfsup.cli import main
from selfsup.export import load_pretrained, read_embeddings
from selfsup_vision.data import ImageFolderDataModule
from selfsup_vision.encoders import SmallConvNet

CONFIG = """\
# SimCLR on a folder of my own images.
seed_everything: 0
trainer:
  max_epochs: 1
  max_steps: 2
  limit_train_batches: 2
  accelerator: cpu
  devices: 1
  logger: false
  enable_progress_bar: false
  enable_model_summary: false
  default_root_dir: outputs/my_images
  enable_checkpointing: true
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {dirpath: outputs/my_images/checkpoints, save_last: true}
model:
  tasks:
    - class_path: selfsup.experiment.Task
      init_args:
        name: my_images
        method:
          class_path: selfsup_vision.methods.SimCLR
          init_args:
            backbone: small_convnet
            width: 4
            feature_dim: 8
            hidden_dim: 16
            projection_dim: 8
        data:
          class_path: selfsup_vision.data.ImageFolderDataModule
          init_args:
            root: /path/to/my_images
            train_dir: .
            val_dir: null
            image_size: 8
            resize: true
            batch_size: 4
  optimizer:
    class_path: torch.optim.AdamW
    init_args: {lr: 1.0e-3, weight_decay: 1.0e-4}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``photos/<album>/<image>`` and ``my.yaml``, after ``selfsup fit`` ran there.

    The images are PNGs and JPEGs of different sizes, one of them grayscale.
    """
    folder = tmp_path_factory.mktemp("own_data")
    photos = folder / "photos"
    gen = np.random.default_rng(0)
    sizes = [(12, 10), (10, 12), (16, 16), (9, 9), (20, 11)]
    for a, album in enumerate(("2023 summer", "pets")):
        (photos / album).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            image = Image.fromarray(gen.integers(0, 256, size=(h, w, 3), dtype=np.uint8))
            if (a, i) == (1, 2):
                image = image.convert("L")
            image.save(photos / album / f"img{i}.{'png' if i % 2 else 'jpg'}")
    (folder / "my.yaml").write_text(CONFIG.replace("/path/to/my_images", str(photos)))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.delenv("SELFSUP_DATA", raising=False)
        assert main(["fit", "--config", "my.yaml"]) == 0
    assert (folder / CKPT).is_file()
    return folder


CKPT = "outputs/my_images/checkpoints/last.ckpt"
ARGS = ["--config", "my.yaml", "--ckpt_path", CKPT]


def _files(photos: Path) -> list[str]:
    return sorted(p.relative_to(photos).as_posix() for p in photos.rglob("img*"))


def test_embed_export_load(run: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(run)
    assert main(["embed", *ARGS, "--output", "my_images.npy"]) == 0
    ids, vectors = read_embeddings("my_images.npy")
    assert sorted(ids) == _files(run / "photos") and len(ids) == 10  # every image once
    assert vectors.shape == (10, 8) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()

    assert main(["export", *ARGS, "--output", "my_encoder"]) == 0
    encoder = load_pretrained("my_encoder")
    assert isinstance(encoder, SmallConvNet) and not encoder.training
    # The reloaded encoder on the data module's un-augmented images gives the stored vectors.
    data = ImageFolderDataModule(
        root=str(run / "photos"),
        train_dir=".",
        val_dir=None,
        image_size=8,
        resize=True,
        batch_size=4,
    )
    batch = next(iter(data.predict_dataloader()))
    with torch.no_grad():
        again = encoder(batch.inputs).numpy()
    rows = [ids.index(i) for i in batch.ids]
    np.testing.assert_allclose(again, vectors[rows], rtol=1e-5, atol=1e-6)

    # Other images through the trained model: a flat folder given with --data.
    new = run / "new_photos"
    new.mkdir()
    for name in ("b.jpg", "a.png"):
        Image.new("RGB", (11, 9), (200, 30, 90)).save(new / name)
    data_yaml = (
        f"{{class_path: image_folder, init_args: {{root: {new}, train_dir: ., val_dir: null, "
        "image_size: 8, resize: true}}"
    )
    assert main(["embed", *ARGS, "--data", data_yaml, "--output", "new.npy"]) == 0
    new_ids, new_vectors = read_embeddings("new.npy")
    assert new_ids == ["a.png", "b.jpg"] and new_vectors.shape == (2, 8)


def test_embed_to_parquet(run: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pyarrow", reason="Parquet output needs selfsup-core[parquet]")
    monkeypatch.chdir(run)
    assert main(["embed", *ARGS, "--output", "my_images.parquet"]) == 0
    assert main(["embed", *ARGS, "--output", "same.npy"]) == 0
    ids, vectors = read_embeddings("my_images.parquet")
    assert sorted(ids) == _files(run / "photos") and vectors.shape == (10, 8)
    npy_ids, npy_vectors = read_embeddings("same.npy")
    assert npy_ids == ids
    np.testing.assert_array_equal(npy_vectors, vectors)


def test_without_a_folder_the_error_names_both_ways(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    Path("my.yaml").write_text(CONFIG.replace("/path/to/my_images", "photos"))  # relative
    assert main(["fit", "--config", "my.yaml"]) == 2
    err = capsys.readouterr().err
    assert "data_root=" in err and "SELFSUP_DATA" in err


def _readme_config() -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Your own data") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    return section[start : section.index("```\n", start)]


def test_readme_config_is_the_tested_one_at_full_size(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from selfsup.cli.lightning import run_lightning_cli

    readme, tested = yaml.safe_load(_readme_config()), yaml.safe_load(CONFIG)
    task, small = readme["model"]["tasks"][0], tested["model"]["tasks"][0]
    for part in ("method", "data"):
        assert task["init_args"][part]["class_path"] == small["init_args"][part]["class_path"]
        keys = task["init_args"][part]["init_args"].keys()
        assert keys == small["init_args"][part]["init_args"].keys()
    data = task["init_args"]["data"]["init_args"]
    assert (data["train_dir"], data["val_dir"], data["resize"]) == (".", None, True)
    assert readme["trainer"]["callbacks"] == tested["trainer"]["callbacks"]
    assert readme["model"]["optimizer"]["class_path"] == tested["model"]["optimizer"]["class_path"]
    # the README's file as written builds (only the data folder is a placeholder)
    photos = tmp_path / "photos" / "album"
    photos.mkdir(parents=True)
    Image.new("RGB", (70, 64)).save(photos / "a.jpg")
    path = tmp_path / "my_images.yaml"
    path.write_text(_readme_config().replace("/path/to/my_images", str(tmp_path / "photos")))
    monkeypatch.chdir(tmp_path)
    cli = run_lightning_cli(["--config", str(path)], run=False)
    method = cli.model.tasks["my_images"].method
    dm = cli.model.tasks["my_images"].data
    batch = next(iter(dm.predict_dataloader()))
    assert batch.ids == ["album/a.jpg"] and batch.inputs.shape == (1, 3, 64, 64)
    assert method.embed(batch.inputs).shape == (1, 128)

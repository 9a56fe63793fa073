"""Every shipped config trains through ``selfsup fit`` (shrunk to tiny encoders and images)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from PIL import Image

from selfsup.cli.lightning import run_lightning_cli
from selfsup.plugins.configs import find_config, shipped_configs

NAMES = sorted(c.name for c in shipped_configs() if c.owner == "vision")
TINY_CONVNET = {
    "class_path": "selfsup_vision.encoders.SmallConvNet",
    "init_args": {"width": 4, "out_dim": 8},
}
TINY_VIT = {
    "class_path": "selfsup_vision.encoders.ViTEncoder",
    "init_args": {
        "image_size": 8,
        "patch_size": 2,
        "hidden_size": 16,
        "num_layers": 1,
        "num_heads": 2,
    },
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    for split in ("train", "test"):
        for c in range(2):
            (root / split / f"c{c}").mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (8, 8), (120 * c, 30 * i, 90)).save(root / split / f"c{c}/{i}.png")
    return root


def _read(name: str) -> dict:
    return yaml.safe_load(find_config(f"vision:{name}").read_text())


def test_every_method_has_a_config() -> None:
    methods = {
        _read(n)["model"]["tasks"][0]["init_args"]["method"]["class_path"].rsplit(".", 1)[1]
        for n in NAMES
    }
    assert methods == {
        "SimCLR",
        "MoCo",
        "BYOL",
        "DINO",
        "IBOT",
        "SwAV",
        "BarlowTwins",
        "VICReg",
        "MAE",
        "IJEPA",
    }


def test_configs_say_what_they_are_and_how_to_run_them() -> None:
    for name in NAMES:
        text = find_config(f"vision:{name}").read_text()
        first = text.splitlines()[0]
        assert first.startswith("# ") and first.endswith(".") and len(first) <= 100, name
        assert f"selfsup fit --config vision:{name}" in text, name
        assert "SELFSUP_DATA" in text and "shared/data" not in text, name
        assert "repository root" not in text, name


def tiny_config(name: str, folder: Path, tmp_path: Path) -> Path:
    """The shipped config ``name`` shrunk to tiny encoders, images and two steps."""
    config = _read(name)
    task = config["model"]["tasks"][0]["init_args"]
    args = task["method"]["init_args"]
    if "encoder" in args:
        vit = "ViT" in args["encoder"]["class_path"]
        args["encoder"] = TINY_VIT if vit else TINY_CONVNET
    else:  # SimCLR's backbone switch
        args.update(backbone="small_convnet", width=4, feature_dim=8)
    for key in ("hidden_dim", "projection_dim", "bottleneck_dim", "num_prototypes"):
        if key in args:
            args[key] = 8
    if "queue_size" in args:
        args["queue_size"] = 16
    if "local_crop_size" in args:  # DINO's multi-crop, for 8-pixel images
        args.update(local_crop_size=4, num_local_crops=2)
    if "predictor_dim" in args:
        args.update(predictor_dim=8, predictor_heads=2)
    if "decoder_dim" in args:
        args.update(decoder_dim=8, decoder_heads=2)
    task["data"]["init_args"].update(
        root=str(folder), image_size=8, batch_size=4, probe_train_size=8, probe_val_size=8
    )
    config["trainer"].update(
        max_steps=2,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=str(tmp_path),
    )
    config["trainer"]["callbacks"] = [
        {"class_path": "selfsup.metrics.ProbeMonitor", "init_args": {"probe": "knn", "k": 3}}
    ]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("name", NAMES)
def test_shipped_config_trains_with_selfsup_fit(name: str, folder: Path, tmp_path: Path) -> None:
    cli = run_lightning_cli(["fit", "--config", str(tiny_config(name, folder, tmp_path))])
    assert cli.trainer.global_step == 2
    assert 0.0 <= float(cli.trainer.callback_metrics["cifar10/knn_acc"]) <= 1.0


def test_bf16_mixed_precision_from_the_command_line(folder: Path, tmp_path: Path) -> None:
    path = tiny_config("barlow_twins_cifar10", folder, tmp_path)
    cli = run_lightning_cli(["fit", "--config", str(path), "--trainer.precision", "bf16-mixed"])
    assert cli.trainer.precision == "bf16-mixed"
    assert cli.trainer.global_step == 2
    assert math.isfinite(float(cli.trainer.callback_metrics["train/loss"]))


def test_offline_evaluation_of_exported_encoders(folder: Path, tmp_path: Path) -> None:
    import torch

    from selfsup.export import save_pretrained
    from selfsup_vision.encoders import ResNetEncoder, ViTEncoder
    from selfsup_vision.evaluation.encoder_probe import evaluate_encoder, main

    small = ["--image-size", "8", "--k", "3"]
    encoder = ResNetEncoder(18)
    weights = tmp_path / "r18.pt"
    encoder.export(str(weights))
    save_pretrained(encoder, tmp_path / "r18")  # the folder `selfsup export` writes
    out = main(["--data-root", str(folder), "--resnet-weights", str(weights)] + small)
    assert set(out) == {"knn_acc", "linear_acc", "train_images", "test_images"}
    assert out["train_images"] == 8 and 0.0 <= out["knn_acc"] <= 1.0
    again = main(["--data-root", str(folder), "--encoder-dir", str(tmp_path / "r18")] + small)
    assert again["knn_acc"] == out["knn_acc"]  # the same weights give the same features
    ViTEncoder(8, 2, 16, 1, 2).save_pretrained(str(tmp_path / "vit"))
    vit = main(["--data-root", str(folder), "--vit-dir", str(tmp_path / "vit")] + small)
    assert "knn_acc" in vit
    # Separable classes: the identity "encoder" on raw pixels is perfect for kNN.
    x = torch.cat([torch.zeros(4, 3, 2, 2), torch.ones(4, 3, 2, 2)])
    y = torch.tensor([0] * 4 + [1] * 4)
    flat = evaluate_encoder(
        lambda im: im.flatten(1) + 0.01 * torch.arange(12), [(x, y)], [(x, y)], k=3, linear=False
    )
    assert flat == {"knn_acc": 1.0}

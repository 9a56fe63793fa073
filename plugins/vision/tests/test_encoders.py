"""Encoders: CIFAR stem, local weight loading and export, the HF ViT and its token paths, and the
encoders the methods export (``selfsup export``)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from selfsup.experiment.method import Method
from selfsup.export import load_pretrained, save_pretrained
from selfsup_vision.encoders import ResNetEncoder, SmallConvNet, ViTEncoder, patch_grid
from selfsup_vision.methods import BYOL, IJEPA, MAE, BarlowTwins, SimCLR, VICReg


def test_cifar_stem_is_3x3_stride_1_without_maxpool() -> None:
    net = ResNetEncoder(18, cifar_stem=True).net
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity)
    imagenet = ResNetEncoder(18, cifar_stem=False).net
    assert imagenet.conv1.kernel_size == (7, 7) and isinstance(imagenet.maxpool, nn.MaxPool2d)


@pytest.mark.parametrize(("depth", "dim"), [(18, 512), (50, 2048)])
def test_resnet_out_dim(depth: int, dim: int) -> None:
    enc = ResNetEncoder(depth).eval()
    assert enc.out_dim == dim
    with torch.no_grad():
        assert enc(torch.rand(2, 3, 8, 8)).shape == (2, dim)


def test_resnet_export_and_reload(tmp_path) -> None:  # type: ignore[no-untyped-def]
    enc = ResNetEncoder(18).eval()
    path = str(tmp_path / "r18.pt")
    enc.export(path)
    again = ResNetEncoder(18, weights_path=path).eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(again(x), enc(x))


def test_resnet_loads_torchvision_state_dicts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from torchvision.models import resnet18

    tv = resnet18(weights=None).eval()
    path = str(tmp_path / "tv.pt")
    torch.save(tv.state_dict(), path)
    enc = ResNetEncoder(18, cifar_stem=False, weights_path=path).eval()
    tv.fc = nn.Identity()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), tv(x))
    with pytest.raises(ValueError, match="cifar_stem=False"):
        ResNetEncoder(18, cifar_stem=True, weights_path=path)


def test_resnet_bad_arguments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="depth"):
        ResNetEncoder(19)
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        ResNetEncoder(18, weights_path=str(tmp_path / "missing.pt"))
    path = tmp_path / "bad.pt"
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="state dict"):
        ResNetEncoder(18, weights_path=str(path))


def _vit(**kw: object) -> ViTEncoder:
    args = {"image_size": 8, "patch_size": 2, "hidden_size": 16, "num_layers": 2, "num_heads": 2}
    args.update(kw)
    return ViTEncoder(**args).eval()  # type: ignore[arg-type]


def test_vit_matches_the_hf_model_and_pools() -> None:
    enc = _vit()
    x = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        ref = enc.model(pixel_values=x).last_hidden_state
        torch.testing.assert_close(enc.tokens(x), ref)
        torch.testing.assert_close(enc(x), ref[:, 1:].mean(1))
        torch.testing.assert_close(_vit(pooling="cls")(x).shape, torch.Size([3, 16]))
    assert enc.grid == (4, 4) and enc.num_patches == 16 and enc.out_dim == 16


def test_vit_key_padding_equals_dropping_the_padded_tokens() -> None:
    enc = _vit()
    x = torch.rand(2, 3, 8, 8)
    idx = torch.tensor([[0, 5, 9, 3], [1, 2, 15, 7]])
    pad = torch.tensor([[False, False, True, True], [False, False, True, True]])
    with torch.no_grad():
        padded = enc.tokens(x, idx, pad)[:, :3]
        dropped = enc.tokens(x, idx[:, :2])
    torch.testing.assert_close(padded, dropped, atol=1e-5, rtol=1e-5)


def test_vit_resizes_its_positions_for_other_image_sizes() -> None:
    enc = _vit()
    positions = enc.model.embeddings.position_embeddings[:, 1:]
    assert torch.equal(enc.patch_positions(4), positions)  # the encoder's own grid: as learned
    small = enc.patch_positions(2)
    grid = positions.reshape(1, 4, 4, 16).permute(0, 3, 1, 2).double()
    # bicubic resizing, written as the reference: torch's float64 interpolation of the grid
    ref = torch.nn.functional.interpolate(grid, size=(2, 2), mode="bicubic", align_corners=False)
    torch.testing.assert_close(small.double(), ref.permute(0, 2, 3, 1).reshape(1, 4, 16))
    x = torch.rand(2, 3, 4, 4)
    with torch.no_grad():
        patches = enc.model.embeddings.patch_embeddings.projection(x).flatten(2).transpose(1, 2)
        expected = enc.pool(enc.run(patches + small))
        torch.testing.assert_close(enc(x), expected)
        assert enc(torch.rand(2, 3, 12, 12)).shape == (2, 16)


def test_dino_trains_a_vit_on_local_crops_of_another_size() -> None:
    from selfsup_vision.methods import DINO

    vit = ViTEncoder(image_size=16, patch_size=4, hidden_size=16, num_layers=1, num_heads=2)
    method = DINO(vit, hidden_dim=32, bottleneck_dim=8, num_prototypes=16, num_local_crops=2,
                  local_crop_size=8)  # fmt: skip
    out = method.training_losses(torch.rand(4, 3, 16, 16))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert vit.model.embeddings.position_embeddings.grad is not None  # local crops reach them


def test_vit_save_pretrained_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    enc = _vit()
    enc.save_pretrained(str(tmp_path / "vit"))
    again = ViTEncoder(pretrained_path=str(tmp_path / "vit")).eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(again(x), enc(x))
    with pytest.raises(FileNotFoundError, match="config.json"):
        ViTEncoder(pretrained_path=str(tmp_path))


def test_vit_bad_inputs() -> None:
    with pytest.raises(ValueError, match="does not divide image_size 32"):
        ViTEncoder(image_size=32, patch_size=5)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        ViTEncoder(image_size=8, patch_size=2, hidden_size=10, num_heads=3)
    with pytest.raises(ValueError, match=r"expects images \(B, 3, 8, 8\)"):
        _vit().tokens(torch.rand(2, 3, 16, 16))  # the masked paths keep to the encoder's size
    with pytest.raises(ValueError, match="patch size 2 divides"):
        _vit()(torch.rand(2, 3, 9, 9))
    with pytest.raises(ValueError, match="pooling"):
        _vit(pooling="max")
    assert patch_grid(32, 4) == (8, 8)


# -- export (selfsup.export: model.safetensors + config.json) ----------------------------------
def test_resnet_folder_does_not_point_at_the_weights_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    weights = tmp_path / "r18.pt"
    ResNetEncoder(18, cifar_stem=False).export(str(weights))
    enc = ResNetEncoder(18, cifar_stem=False, weights_path=str(weights)).eval()
    folder = save_pretrained(enc, tmp_path / "enc")
    weights.unlink()  # the folder stands alone
    config = json.loads((folder / "config.json").read_text())
    assert config["component"] == "vision:resnet"
    assert config["init_args"] == {"depth": 18, "in_channels": 3, "cifar_stem": False}
    loaded = load_pretrained(folder)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), enc(x))


def test_vit_folder_holds_the_architecture(tmp_path) -> None:  # type: ignore[no-untyped-def]
    enc = _vit(num_layers=1, pooling="cls")
    enc.save_pretrained(str(tmp_path / "hf"))  # Hugging Face format
    from_hf = ViTEncoder(pretrained_path=str(tmp_path / "hf"), pooling="cls").eval()
    folder = save_pretrained(from_hf, tmp_path / "enc")
    init_args = json.loads((folder / "config.json").read_text())["init_args"]
    assert set(init_args) == {"config", "pooling"} and init_args["pooling"] == "cls"
    arch = init_args["config"]
    assert (arch["hidden_size"], arch["num_hidden_layers"], arch["patch_size"]) == (16, 1, 2)
    assert "transformers_version" not in arch and "id2label" not in arch
    loaded = load_pretrained(folder)
    assert isinstance(loaded, ViTEncoder) and loaded.grid == (4, 4)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), enc(x))
    with pytest.raises(ValueError, match="selfsup.export.load_pretrained"):
        ViTEncoder(pretrained_path=str(folder))
    with pytest.raises(ValueError, match="not both"):
        ViTEncoder(pretrained_path=str(tmp_path / "hf"), config=arch)
    with pytest.raises(ValueError, match="not a ViT"):
        ViTEncoder(config={**arch, "model_type": "bert"})


def _methods() -> list[Method]:
    def vit() -> ViTEncoder:
        return ViTEncoder(image_size=8, patch_size=2, hidden_size=16, num_layers=1, num_heads=2)

    def net() -> SmallConvNet:
        return SmallConvNet(width=4, out_dim=8)

    return [
        SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=8),
        SimCLR(backbone="resnet18", hidden_dim=16, projection_dim=8),
        BYOL(net(), hidden_dim=16, projection_dim=8, predictor="directpred"),
        BarlowTwins(net(), hidden_dim=16, projection_dim=8, mixup=True),
        VICReg(net(), hidden_dim=16, projection_dim=8),
        MAE(vit(), decoder_dim=8, decoder_layers=1, decoder_heads=2),
        IJEPA(vit(), predictor_dim=8, predictor_layers=1, predictor_heads=2),
    ]


@pytest.mark.parametrize("index", range(7))
def test_exported_encoder_computes_embed(index: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    method = _methods()[index].eval()
    x = torch.rand(3, 3, 8, 8)
    loaded = load_pretrained(save_pretrained(method.export_encoder(), tmp_path / "enc"))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), method.embed(x), rtol=1e-5, atol=1e-6)


def test_ijepa_exports_the_target_encoder() -> None:
    method = IJEPA(
        ViTEncoder(image_size=8, patch_size=2, hidden_size=16, num_layers=1, num_heads=2),
        predictor_dim=8,
        predictor_layers=1,
        predictor_heads=2,
    ).eval()
    with torch.no_grad():
        for p in method.encoder.parameters():  # the context encoder moves away from its EMA
            p.add_(0.1)
    assert method.export_encoder() is method.target.teacher
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(method.encoder(x), method.export_encoder()(x))

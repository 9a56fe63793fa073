"""Encoders: CIFAR stem, local weight loading and export, the HF ViT and its token paths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfsup_vision.encoders import ResNetEncoder, ViTEncoder, patch_grid


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
        _vit()(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="pooling"):
        _vit(pooling="max")
    assert patch_grid(32, 4) == (8, 8)

"""selfsup-vision passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_vision.encoders import SmallConvNet, ViTEncoder
from selfsup_vision.methods import (
    BYOL,
    DINO,
    IBOT,
    IJEPA,
    MAE,
    BarlowTwins,
    MoCo,
    MoCoV3,
    SimCLR,
    SwAV,
    VICReg,
)


class TestVisionPlugin(PluginContract):
    plugin_name = "vision"
    distribution = "selfsup-vision"
    modality = "vision"


class TestSimCLR(MethodContract):
    method_cls = SimCLR
    modality = "vision"

    def make_method(self) -> Method:
        return SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=8)

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.rand(4, 3, 12, 12, generator=generator), torch.arange(4)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        images = torch.rand(4, 3, 12, 12)
        return [
            (torch.rand(4, 1, 12, 12), r"shape \(B, 3, H, W\)"),
            (torch.rand(3, 12, 12), r"shape \(B, 3, H, W\)"),
            ((images * 255).to(torch.uint8), "floating-point"),
            ([images, images, images], "length 3"),
            (images[:1], "at least 2 images"),
            ({"images": images}, "tensor"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return torch.rand(5, 3, 12, 12, generator=generator), 5

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (torch.rand(3, 3, 12, 12, generator=generator),)


class TestSimCLRResNet18(TestSimCLR):
    def make_method(self) -> Method:
        return SimCLR(backbone="resnet18", hidden_dim=16, projection_dim=8)

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.rand(2, 3, 8, 8, generator=generator), None


def _convnet() -> torch.nn.Module:
    return SmallConvNet(width=4, out_dim=8)


def _vit(size: int = 8, patch: int = 2) -> torch.nn.Module:
    return ViTEncoder(image_size=size, patch_size=patch, hidden_size=16, num_layers=1, num_heads=2)


def _image_cases(size: int = 8) -> list[tuple[Any, str]]:
    images = torch.rand(4, 3, size, size)
    return [
        (torch.rand(4, 1, size, size), r"shape \(B, 3, H, W\)"),
        ((images * 255).to(torch.uint8), "floating-point"),
        ([images, images, images], "length 3"),
        ({"images": images}, "tensor"),
        ({"views": [images]}, "at least 2 views"),
    ]


class _TwoViewContract(MethodContract):
    modality = "vision"

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.rand(4, 3, 8, 8, generator=generator), torch.arange(4)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return _image_cases() + [(torch.rand(1, 3, 8, 8), "at least 2 images")]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return torch.rand(3, 3, 8, 8, generator=generator), 3

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (torch.rand(3, 3, 8, 8, generator=generator),)


class TestSimCLRDCLW(_TwoViewContract):
    method_cls = SimCLR

    def make_method(self) -> Method:
        return SimCLR(encoder=_convnet(), hidden_dim=16, projection_dim=8, loss="dclw")


class TestSimCLRMultiCropMatryoshka(_TwoViewContract):
    method_cls = SimCLR

    def make_method(self) -> Method:
        return SimCLR(
            encoder=_convnet(), hidden_dim=16, projection_dim=8, matryoshka_dims=[2, 4, 8]
        )

    def make_batch(self, generator: torch.Generator) -> Any:
        sizes = (8, 8, 4, 4)
        views = [torch.rand(4, 3, s, s, generator=generator) for s in sizes]
        return {"views": views, "labels": torch.arange(4)}


class TestBYOL(_TwoViewContract):
    method_cls = BYOL

    def make_method(self) -> Method:
        return BYOL(_convnet(), hidden_dim=16, projection_dim=8)


class TestBYOLDirectPred(TestBYOL):
    def make_method(self) -> Method:
        return BYOL(
            _convnet(),
            hidden_dim=16,
            projection_dim=8,
            predictor="directpred",
            matryoshka_dims=[4, 8],
        )


class TestDINO(_TwoViewContract):
    method_cls = DINO

    def make_method(self) -> Method:
        return DINO(
            _convnet(),
            hidden_dim=16,
            bottleneck_dim=8,
            num_prototypes=32,
            num_local_crops=2,
            local_crop_size=4,
        )


class TestDINOLoaderViews(TestDINO):
    def make_method(self) -> Method:
        return DINO(_convnet(), hidden_dim=16, bottleneck_dim=8, num_prototypes=32)

    def make_batch(self, generator: torch.Generator) -> Any:
        views = [torch.rand(4, 3, s, s, generator=generator) for s in (8, 8, 4, 4, 4)]
        return {"views": views, "labels": torch.arange(4)}


class TestIBOT(_TwoViewContract):
    method_cls = IBOT

    def make_method(self) -> Method:
        return IBOT(_vit(), hidden_dim=16, bottleneck_dim=8, num_prototypes=16)


class TestSwAV(_TwoViewContract):
    method_cls = SwAV

    def make_method(self) -> Method:
        return SwAV(
            _convnet(),
            hidden_dim=16,
            projection_dim=8,
            num_prototypes=6,
            num_local_crops=2,
            local_crop_size=4,
        )


class TestMoCo(_TwoViewContract):
    method_cls = MoCo

    def make_method(self) -> Method:
        return MoCo(_convnet(), hidden_dim=16, projection_dim=8, queue_size=16, symmetric=True)


class TestMoCoV3(_TwoViewContract):
    method_cls = MoCoV3

    def make_method(self) -> Method:
        return MoCoV3(_convnet(), hidden_dim=16, projection_dim=8)


class TestBarlowTwinsMixed(_TwoViewContract):
    method_cls = BarlowTwins

    def make_method(self) -> Method:
        return BarlowTwins(_convnet(), hidden_dim=16, projection_dim=8, mixup=True)


class TestVICReg(_TwoViewContract):
    method_cls = VICReg

    def make_method(self) -> Method:
        return VICReg(_convnet(), hidden_dim=16, projection_dim=8)


class _ViTContract(MethodContract):
    modality = "vision"

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.rand(3, 3, 8, 8, generator=generator), None

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return _image_cases()[:4] + [(torch.rand(2, 3, 12, 12), "takes 8x8 images")]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return torch.rand(2, 3, 8, 8, generator=generator), 2

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (torch.rand(2, 3, 8, 8, generator=generator),)


class TestMAE(_ViTContract):
    method_cls = MAE

    def make_method(self) -> Method:
        return MAE(_vit(), decoder_dim=8, decoder_layers=1, decoder_heads=2)


class TestMAEGroupMasking(TestMAE):
    def make_method(self) -> Method:
        return MAE(_vit(), masking="group", decoder_dim=8, decoder_layers=1, decoder_heads=2)


class TestIJEPA(_ViTContract):
    method_cls = IJEPA

    def make_method(self) -> Method:
        return IJEPA(_vit(size=8, patch=1), predictor_dim=8, predictor_layers=1, predictor_heads=2)

"""selfsup-vision passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_vision.methods.simclr import SimCLR


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


class TestSimCLRResNet18(TestSimCLR):
    def make_method(self) -> Method:
        return SimCLR(backbone="resnet18", hidden_dim=16, projection_dim=8)

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.rand(2, 3, 8, 8, generator=generator), None

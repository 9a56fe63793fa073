"""selfsup-tabular passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_tabular.methods.scarf import SCARF


class TestTabularPlugin(PluginContract):
    plugin_name = "tabular"
    distribution = "selfsup-tabular"
    modality = "tabular"


class TestSCARF(MethodContract):
    method_cls = SCARF
    modality = "tabular"

    def make_method(self) -> Method:
        return SCARF(num_features=5, hidden_dim=8)

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.randn(6, 5, generator=generator), torch.arange(6)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        x = torch.randn(6, 5)
        nan = x.clone()
        nan[0, 0] = float("nan")
        return [
            (x[:, :4], r"shape \(B, 5\)"),
            (x[None], r"shape \(B, 5\)"),
            (x.long(), "floating-point"),
            (nan, "impute missing values"),
            (x[:1], "at least 2 rows"),
            ((x, None, None), "length 3"),
            ({"x": x}, "tensor"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return torch.randn(3, 5, generator=generator), 3

"""The plugin and its methods pass the selfsup contract suites (selfsup.testing).

Add one MethodContract subclass per method. To deviate from a check, override it with
@pytest.mark.xfail(reason="...") — overriding or deleting it otherwise fails
test_no_overrides_DO_NOT_OVERRIDE.
"""

from __future__ import annotations

from typing import Any

import torch
from selfsup_template.methods.template_method import TemplateMethod
from selfsup_template.plugin import MODALITY, NAME

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract


class TestTemplatePlugin(PluginContract):
    plugin_name = NAME
    distribution = "selfsup-template"
    modality = MODALITY


class TestTemplateMethod(MethodContract):
    method_cls = TemplateMethod
    modality = MODALITY

    def make_method(self) -> Method:
        return TemplateMethod(num_features=5, hidden_dim=8, embed_dim=4, projection_dim=4)

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.randn(6, 5, generator=generator), torch.arange(6)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        x = torch.randn(6, 5)
        return [
            (x[:, :4], r"shape \(B, 5\)"),
            (x.long(), "floating-point"),
            (x[:1], "at least 2 rows"),
            ("not a tensor", "expects inputs as a tensor"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return torch.randn(3, 5, generator=generator), 3

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (torch.randn(3, 5, generator=generator),)

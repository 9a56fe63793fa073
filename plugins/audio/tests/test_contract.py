"""selfsup-audio passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_audio.methods.cola import COLA

SMALL = {
    "sample_rate": 8000,
    "crop_samples": 800,
    "n_fft": 128,
    "win_length": 128,
    "hop_length": 64,
    "n_mels": 16,
    "f_min": 0.0,
    "f_max": None,
    "width": 4,
    "feature_dim": 16,
    "projection_dim": 8,
}


class TestAudioPlugin(PluginContract):
    plugin_name = "audio"
    distribution = "selfsup-audio"
    modality = "audio"


class TestCOLA(MethodContract):
    method_cls = COLA
    modality = "audio"

    def make_method(self) -> Method:
        return COLA(**SMALL)

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.randn(4, 2000, generator=generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        wave = torch.randn(4, 2000)
        return [
            (wave[:, :500], "at least 800 samples"),
            (wave[:, None, :], "mono"),
            (torch.randn(4, 2, 2000), r"shape \(B, T\)"),
            ((wave * 1000).to(torch.int16), "floating-point"),
            (wave[:1], "at least 2 clips"),
            ([wave, None, None], "length 3"),
            ({"audio": wave}, "tensor"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return (torch.randn(3, 3000, generator=generator), torch.zeros(3)), 3

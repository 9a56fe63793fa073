"""selfsup-audio passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_audio.methods.audio_dino import AudioDINO
from selfsup_audio.methods.beats import BEATs
from selfsup_audio.methods.beats_finetune import BEATsFineTuning
from selfsup_audio.methods.beats_tokenizer import BEATsTokenizerTraining
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

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        # LogMelConvNet: padded waveforms and each clip's length
        return torch.randn(3, 3000, generator=generator), torch.tensor([3000, 2000, 900])


class TestCOLAPaddedClips(TestCOLA):
    """COLA on the ``{"waveform", "lengths"}`` batches of AudioFolderDataModule(features=
    "waveform"): embeddings of each clip's own samples."""

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        wave = torch.randn(3, 3000, generator=generator)
        return {"waveform": wave, "lengths": torch.tensor([3000, 1500, 900])}, 3


def _waveforms(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of the exported AudioEmbedder: 16 kHz waveforms (B, N) and their lengths."""
    return 0.1 * torch.randn(3, 4000, generator=generator), torch.tensor([4000, 2500, 700])


def _fbank_batch(generator: torch.Generator) -> dict[str, torch.Tensor]:
    fbank = torch.randn(3, 16, 32, generator=generator) * 0.5
    mask = torch.zeros(3, 16, dtype=torch.bool)
    mask[1, 10:] = True
    mask[2, 5:] = True
    return {"fbank": fbank, "padding_mask": mask, "label": torch.arange(3)}


def _bad_fbank_batches() -> list[tuple[Any, str]]:
    good = _fbank_batch(torch.Generator().manual_seed(0))
    nan = good["fbank"].clone()
    nan[0, 0, 0] = float("nan")
    empty_clip = good["padding_mask"].clone()
    empty_clip[0] = True
    return [
        (torch.randn(3, 4000), "raw waveforms"),
        (good["fbank"][..., :16], r"\(B, T, 32\)"),
        (dict(good, fbank=nan), "NaN"),
        (dict(good, padding_mask=good["padding_mask"][:, :8]), "padding_mask has shape"),
        (dict(good, padding_mask=empty_clip), "no real frame"),
        ({"audio": good["fbank"]}, "key 'fbank'"),
        ((good, None, None), "length 3"),
        (good["fbank"].long(), "float"),
    ]


SMALL_BEATS = {"patch": (4, 16), "num_mel_bins": 32, "codebook_size": 16, "code_dim": 8}


class TestBEATs(MethodContract):
    method_cls = BEATs
    modality = "audio"

    def make_method(self) -> Method:
        return BEATs(**SMALL_BEATS, depth=1)

    def make_batch(self, generator: torch.Generator) -> Any:
        return _fbank_batch(generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return _bad_fbank_batches()

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        b = _fbank_batch(generator)
        return ({"fbank": b["fbank"], "padding_mask": b["padding_mask"]}, b["label"]), 3

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return _waveforms(generator)


class TestBEATsBandLayerMean(TestBEATs):
    """The pooling the FSDD configs use: per-band means of the layer average."""

    def make_method(self) -> Method:
        return BEATs(**SMALL_BEATS, depth=2, pooling="band", embed_layers="mean")


class TestBEATsBestRQ(TestBEATs):
    def make_method(self) -> Method:
        return BEATs(**SMALL_BEATS, depth=1, tokenizer="best_rq")


class TestAudioDINO(TestBEATs):
    method_cls = AudioDINO

    def make_method(self) -> Method:
        return AudioDINO(
            depth=1,
            patch=(4, 16),
            num_mel_bins=32,
            global_frames=8,
            local_frames=4,
            num_local_crops=2,
            hidden_dim=16,
            bottleneck_dim=8,
            num_prototypes=32,
        )


class TestBEATsTokenizerTraining(MethodContract):
    method_cls = BEATsTokenizerTraining
    modality = "audio"

    def make_method(self) -> Method:
        return BEATsTokenizerTraining(
            patch=(4, 16), num_mel_bins=32, codebook_size=16, code_dim=8, estimator_depth=1
        )

    def make_batch(self, generator: torch.Generator) -> Any:
        return _fbank_batch(generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return _bad_fbank_batches()

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return _fbank_batch(generator), 3

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return _waveforms(generator)


class TestBEATsFineTuning(MethodContract):
    method_cls = BEATsFineTuning
    modality = "audio"

    def make_method(self) -> Method:
        return BEATsFineTuning(num_classes=3, patch=(4, 16), num_mel_bins=32)

    def make_batch(self, generator: torch.Generator) -> Any:
        return _fbank_batch(generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        labels_missing = {k: v for k, v in _fbank_batch(torch.Generator()).items() if k != "label"}
        return [*_bad_fbank_batches(), (labels_missing, "needs labels")]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        b = _fbank_batch(generator)
        return ({"fbank": b["fbank"], "padding_mask": b["padding_mask"]}, b["label"]), 3

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return _waveforms(generator)

"""COLA: crops, the log-mel frontend and the bilinear contrastive loss."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.losses import info_nce
from selfsup_audio.frontends import LogMelSpectrogram
from selfsup_audio.methods import COLA
from selfsup_audio.methods.cola import random_crops

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


def test_random_crops_are_contiguous_windows_of_their_clip() -> None:
    b, t, length = 5, 50, 12
    wave = torch.arange(b * t, dtype=torch.float32).view(b, t)
    torch.manual_seed(0)
    crops = random_crops(wave, length)
    assert crops.shape == (b, length)
    start = crops[:, :1]
    torch.testing.assert_close(crops - start, torch.arange(length).float().expand(b, length))
    row = (start.squeeze(1) // t).long()
    assert torch.equal(row, torch.arange(b))  # each crop comes from its own clip
    offset = start.squeeze(1) - row * t
    assert (offset >= 0).all() and (offset <= t - length).all()


def test_random_crops_cover_every_offset() -> None:
    wave = torch.arange(10, dtype=torch.float32).expand(2000, 10)
    torch.manual_seed(0)
    firsts = random_crops(wave, 7)[:, 0]
    assert set(firsts.tolist()) == {0.0, 1.0, 2.0, 3.0}


def test_log_mel_puts_a_tone_in_its_band() -> None:
    sr, freq = 8000, 1000.0
    frontend = LogMelSpectrogram(
        sample_rate=sr, n_fft=256, win_length=256, hop_length=128, n_mels=24, f_min=0.0, f_max=None
    )
    t = torch.arange(4000) / sr
    tone = torch.sin(2 * math.pi * freq * t)[None]
    spec = frontend(tone)
    assert spec.shape == (1, 24, 1 + 4000 // 128)
    fb = frontend.mel.mel_scale.fb  # (n_freqs, n_mels)
    expected_band = int(fb[round(freq * 256 / sr)].argmax())
    assert int(spec[0].mean(1).argmax()) == expected_band


def test_log_mel_of_silence_is_log_offset() -> None:
    frontend = LogMelSpectrogram(
        sample_rate=8000,
        n_fft=128,
        win_length=128,
        hop_length=64,
        n_mels=8,
        f_min=0.0,
        f_max=None,
        log_offset=1e-3,
    )
    out = frontend(torch.zeros(2, 640))
    torch.testing.assert_close(out, torch.full_like(out, math.log(1e-3)))


def test_bad_frontend_arguments_raise() -> None:
    with pytest.raises(ValueError, match="f_max"):
        LogMelSpectrogram(sample_rate=8000, f_max=7800.0)
    with pytest.raises(ValueError, match="win_length"):
        LogMelSpectrogram(n_fft=256, win_length=400)


def test_loss_is_bilinear_cross_entropy_over_the_batch() -> None:
    method = COLA(**SMALL)
    wave = torch.randn(6, 1500, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(4)
    loss = method.training_losses(wave)["loss"]

    torch.manual_seed(4)
    crops = torch.cat([random_crops(wave, 800) for _ in range(2)])
    g1, g2 = method.head(method.features(crops)).chunk(2)
    # core loss on the method's projections
    torch.testing.assert_close(loss, info_nce(g1, method.bilinear(g2), 1.0, normalize=False))
    # independent float64 reference: s_ij = g1_i^T W g2_j, cross-entropy with targets i
    w = method.bilinear.weight.double()
    a, p = g1.double(), g2.double()
    ref = 0.0
    for i in range(6):
        scores = torch.stack([a[i] @ w @ p[j] for j in range(6)])
        ref = ref - (scores[i] - torch.logsumexp(scores, 0))
    torch.testing.assert_close(loss.double(), ref / 6, atol=1e-5, rtol=1e-5)


def test_head_is_dense_layernorm_tanh() -> None:
    method = COLA(**SMALL)
    kinds = [type(m).__name__ for m in method.head]
    assert kinds == ["Linear", "LayerNorm", "Tanh"]
    assert method.bilinear.weight.shape == (8, 8)


def test_embed_accepts_clips_longer_than_crops() -> None:
    method = COLA(**SMALL).eval()
    with torch.no_grad():
        assert method.embed(torch.randn(2, 5000)).shape == (2, 16)
        assert method.embed(torch.randn(2, 200)).shape == (2, 16)


def test_crop_shorter_than_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="crop_samples"):
        COLA(**{**SMALL, "crop_samples": 64})

"""COLA: crops, the log-mel frontend and the bilinear contrastive loss."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.losses import info_nce
from selfsup_audio.augment import frequency_warp
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


# ---------------------------------------------------------------------------------------------
# speaker-perturbed views (view_warp): each view's log-mel warped by its own VTLP factor


def _encoder_inputs(method: COLA, wave: torch.Tensor, seed: int) -> tuple[torch.Tensor, dict]:
    """The spectrograms the encoder sees in one training step, and the step's outputs."""
    seen: list[torch.Tensor] = []
    hook = method.encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    torch.manual_seed(seed)
    out = method.training_losses(wave)
    hook.remove()
    return seen[0], out


def test_view_warp_off_is_plain_cola_step_for_step() -> None:
    wave = torch.randn(6, 1500, generator=torch.Generator().manual_seed(1))
    old = COLA(**SMALL)
    off = COLA(**SMALL, view_warp=0.0)
    off.load_state_dict(old.state_dict())
    torch.manual_seed(3)
    loss_old = old.training_losses(wave)["loss"]
    after_old = torch.random.get_rng_state()
    torch.manual_seed(3)
    loss_off = off.training_losses(wave)["loss"]
    assert torch.equal(loss_old, loss_off)
    # nothing extra is drawn: the global RNG is where two crops leave it
    assert torch.equal(torch.random.get_rng_state(), after_old)
    torch.manual_seed(3)
    crops = torch.cat([random_crops(wave, 800) for _ in range(2)])
    assert torch.equal(torch.random.get_rng_state(), after_old)
    g1, g2 = old.head(old.features(crops)).chunk(2)
    torch.testing.assert_close(loss_old, info_nce(g1, old.bilinear(g2), 1.0, normalize=False))


def test_view_warp_gives_the_two_views_of_a_clip_different_warps() -> None:
    # crops as long as the clips: without the warp the two views are the same spectrogram
    wave = torch.randn(5, 800, generator=torch.Generator().manual_seed(2))
    plain, _ = _encoder_inputs(COLA(**SMALL), wave, seed=0)
    torch.testing.assert_close(plain[:5], plain[5:], rtol=0, atol=0)

    method = COLA(**SMALL, view_warp=0.15)
    seen, out = _encoder_inputs(method, wave, seed=0)
    assert seen.shape == plain.shape == (10, 16, 1 + 800 // 64)
    differ = (seen[:5] - seen[5:]).abs().flatten(1).amax(1)
    assert bool((differ > 1e-3).all()), differ  # every clip's two views differ
    assert torch.isfinite(out["loss"])

    # reference: the same draws (two crops, then one factor per view from U[0.85, 1.15]),
    # frequency_warp on the (views, frames, n_mels) layout
    torch.manual_seed(0)
    crops = torch.cat([random_crops(wave, 800) for _ in range(2)])
    alpha = (0.85 + 0.3 * torch.rand(10, dtype=torch.float64)).float()
    assert bool(((alpha >= 0.85) & (alpha <= 1.15)).all())
    assert bool((alpha[:5] != alpha[5:]).all())
    clean = method.frontend(crops)
    torch.testing.assert_close(plain, clean)
    ref = frequency_warp(clean.transpose(1, 2), alpha).transpose(1, 2)
    torch.testing.assert_close(seen, ref)


def test_view_warp_moves_a_tone_by_its_factor() -> None:
    sr, n_mels = 8000, 32
    method = COLA(**{**SMALL, "n_mels": n_mels}, view_warp=0.19)
    t = torch.arange(800) / sr
    spec = method.frontend(torch.sin(2 * math.pi * 1000.0 * t)[None].expand(64, -1).contiguous())
    torch.manual_seed(0)
    warped, alpha = method.warp_views(spec)
    peak = spec[0].mean(1).argmax().item()
    moved = warped.mean(2).argmax(1).float()
    assert peak < 0.8 * (n_mels - 1)  # below the knee: bin i reads bin i / alpha
    torch.testing.assert_close(moved, (peak * alpha).round(), atol=1.0, rtol=0)
    assert moved.min() < peak < moved.max()  # both directions drawn
    same, ones = COLA(**SMALL).warp_views(spec)
    assert same is spec and torch.equal(ones, torch.ones(64))


def test_view_warp_gradient_reaches_every_parameter() -> None:
    method = COLA(**SMALL, view_warp=0.1)
    wave = torch.randn(6, 1500, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(0)
    method.training_losses(wave)["loss"].backward()
    for name, p in method.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_view_warp_leaves_embeddings_clean() -> None:
    warp = COLA(**SMALL, view_warp=0.1).eval()
    plain = COLA(**SMALL).eval()
    plain.load_state_dict(warp.state_dict())
    x = torch.randn(3, 2000, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(warp.embed(x), plain.embed(x))
        assert torch.equal(warp.representations(x), plain.representations(x))
        assert torch.equal(warp.export_encoder()(x), plain.export_encoder()(x))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"view_warp": -0.1}, r"view_warp must be in \[0, 0.2\).*got -0.1; use e.g. 0.1"),
        ({"view_warp": 0.2}, r"view_warp must be in \[0, 0.2\).*lower warp_cutoff"),
        ({"view_warp": float("nan")}, r"view_warp must be in \[0, 0.2\)"),
        ({"view_warp": 0.35, "warp_cutoff": 0.7}, r"view_warp must be in \[0, 0.3\)"),
        ({"warp_cutoff": 1.0}, r"warp_cutoff must be in \(0, 1\).*default 0.8"),
        ({"warp_cutoff": 0.0}, r"warp_cutoff must be in \(0, 1\)"),
    ],
)
def test_bad_view_warp_arguments_say_how_to_fix_them(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        COLA(**SMALL, **kwargs)
    assert COLA(**SMALL, view_warp=0.29, warp_cutoff=0.7).view_warp == 0.29


# The head's checkpoint layout before it became a core ProjectionHead (hard-coded on purpose:
# a change here breaks every COLA checkpoint saved so far).
COLA_HEAD_KEYS = {
    "head.0.weight": (8, 16),  # Linear(feature_dim, projection_dim)
    "head.0.bias": (8,),
    "head.1.weight": (8,),  # LayerNorm(projection_dim)
    "head.1.bias": (8,),
}


def test_head_checkpoint_of_the_hand_written_layout_loads_strictly() -> None:
    from torch import nn

    from selfsup.encoders import ProjectionHead

    method = COLA(**SMALL)
    assert isinstance(method.head, ProjectionHead)
    state = method.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items() if k.startswith("head.")} == COLA_HEAD_KEYS
    torch.manual_seed(3)
    old = nn.Sequential(nn.Linear(16, 8), nn.LayerNorm(8), nn.Tanh())
    with torch.no_grad():  # LayerNorm starts at (1, 0): move it so a mix-up would show
        old[1].weight.normal_()
        old[1].bias.normal_()
    saved = {**state, **{f"head.{k}": v.clone() for k, v in old.state_dict().items()}}
    method.load_state_dict(saved, strict=True)
    x = torch.randn(5, 16)
    torch.testing.assert_close(method.head(x), old(x), rtol=0, atol=0)

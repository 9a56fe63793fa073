"""Speaker perturbation (VTLP frequency warp), per-utterance CMVN, time-segment pooling and
BEATs' clean-target view: reference checks against straightforward loops."""

from __future__ import annotations

import pytest
import torch

from selfsup.experiment.method import MalformedBatchError
from selfsup_audio.augment import frequency_warp, random_frequency_warp, utterance_cmvn
from selfsup_audio.methods import BEATs
from selfsup_audio.pooling import segment_mean


def reference_warp(x: torch.Tensor, alpha: float, cutoff: float) -> torch.Tensor:
    """Piecewise-linear VTLN on bin indices, one bin at a time in float64."""
    f = x.shape[-1]
    top, knee = f - 1.0, cutoff * (f - 1.0)
    out = torch.empty_like(x, dtype=torch.float64)
    for i in range(f):
        if i <= knee:
            s = i / alpha
        else:
            s = knee / alpha + (i - knee) * (top - knee / alpha) / (top - knee)
        s = min(max(s, 0.0), top)
        lo = int(s // 1)
        hi = min(lo + 1, f - 1)
        w = s - lo
        out[..., i] = x[..., lo].double() * (1 - w) + x[..., hi].double() * w
    return out


@pytest.mark.parametrize("alpha", [0.85, 0.93, 1.0, 1.07, 1.2])
def test_frequency_warp_matches_the_piecewise_linear_reference(alpha: float) -> None:
    x = torch.randn(2, 5, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = frequency_warp(x, alpha, cutoff=0.8)
    assert torch.allclose(got, reference_warp(x, alpha, 0.8), atol=1e-12)
    # the axis ends stay put whatever the factor
    assert torch.allclose(got[..., 0], x[..., 0]) and torch.allclose(got[..., -1], x[..., -1])


def test_frequency_warp_moves_a_peak_by_the_factor_and_keeps_per_clip_factors() -> None:
    x = torch.zeros(2, 3, 128)
    x[:, :, 40] = 1.0
    y = frequency_warp(x, torch.tensor([1.1, 0.9]))
    assert int(y[0, 0].argmax()) == 44  # 40 * 1.1
    assert int(y[1, 0].argmax()) == 36  # 40 * 0.9
    assert frequency_warp(x, 1.0).equal(x)
    padded = torch.zeros(1, 4, 16)
    assert frequency_warp(padded, 1.15).abs().sum() == 0  # zero (padded) frames stay zero


def test_frequency_warp_rejects_non_monotone_factors_and_bad_shapes() -> None:
    x = torch.randn(2, 3, 16)
    with pytest.raises(ValueError, match="alpha must lie"):
        frequency_warp(x, 0.7, cutoff=0.8)
    with pytest.raises(ValueError, match="alpha must lie"):
        frequency_warp(x, 1.3, cutoff=0.8)
    with pytest.raises(ValueError, match="alpha must be a float or a"):
        frequency_warp(x, torch.ones(3))
    with pytest.raises(ValueError, match="cutoff"):
        frequency_warp(x, 1.0, cutoff=1.0)
    with pytest.raises(ValueError, match="fbank must be"):
        frequency_warp(torch.randn(3, 16), 1.0)


def test_random_frequency_warp_draws_seeded_factors_in_range() -> None:
    x = torch.randn(64, 4, 32)
    y1, a1 = random_frequency_warp(
        x, low=0.95, high=1.05, generator=torch.Generator().manual_seed(3)
    )
    y2, a2 = random_frequency_warp(
        x, low=0.95, high=1.05, generator=torch.Generator().manual_seed(3)
    )
    assert y1.equal(y2) and a1.equal(a2)
    assert bool(((a1 >= 0.95) & (a1 <= 1.05)).all()) and float(a1.std()) > 0.01
    assert torch.allclose(y1[5:6], frequency_warp(x[5:6], a1[5:6]))
    with pytest.raises(ValueError, match="low"):
        random_frequency_warp(x, low=1.1, high=0.9)


def test_utterance_cmvn_matches_per_clip_statistics_of_real_frames() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 20, 8, generator=g, dtype=torch.float64) * 3 + 5
    mask = torch.zeros(3, 20, dtype=torch.bool)
    mask[1, 12:] = True
    mask[2, 3:] = True
    for variance in (False, True):
        y = utterance_cmvn(x, mask, variance=variance, eps=0.0)
        for b in range(3):
            real = x[b][~mask[b]]
            ref = real - real.mean(0)
            if variance:
                ref = ref / real.std(0, unbiased=False)
            assert torch.allclose(y[b][~mask[b]], ref, atol=1e-10)
            assert y[b][mask[b]].abs().sum() == 0
    # a level change (gain in the log domain) is removed entirely
    assert torch.allclose(utterance_cmvn(x + 2.5, mask), utterance_cmvn(x, mask), atol=1e-10)
    with pytest.raises(ValueError, match="eps"):
        utterance_cmvn(x, mask, eps=-1.0)


def reference_segments(frames: torch.Tensor, k: int) -> torch.Tensor:
    """Segment means of one clip's real frames ``(L, D)``, by explicit index lists."""
    n = frames.shape[0]
    parts = []
    for s in range(k):
        idx = [t for t in range(n) if (t * k) // n == s] or [((2 * s + 1) * n) // (2 * k)]
        parts.append(frames[idx].mean(0))
    return torch.cat(parts)


@pytest.mark.parametrize("k", [1, 3, 4, 7])
def test_segment_mean_matches_index_lists_with_bands_and_padding(k: int) -> None:
    g = torch.Generator().manual_seed(2)
    bands, d, steps = 4, 5, 9
    x = torch.randn(3, steps * bands, d, generator=g, dtype=torch.float64)
    lengths = [9, 5, 2]  # the last clip is shorter than some k: empty segments take a frame
    pad = torch.zeros(3, steps, dtype=torch.bool)
    for b, n in enumerate(lengths):
        pad[b, n:] = True
    token_pad = pad.repeat_interleave(bands, dim=1)
    got = segment_mean(x, token_pad, k, bands)
    assert got.shape == (3, k * d)
    for b, n in enumerate(lengths):
        frames = x[b].view(steps, bands, d).mean(1)[:n]
        assert torch.allclose(got[b], reference_segments(frames, k), atol=1e-12)
    with pytest.raises(ValueError, match="segments"):
        segment_mean(x, token_pad, 0, bands)
    with pytest.raises(ValueError, match="whole time steps"):
        segment_mean(x, token_pad, 2, 5)


SMALL = {"patch": (4, 16), "num_mel_bins": 32, "codebook_size": 16, "code_dim": 8}


def test_beats_predicts_the_target_views_labels() -> None:
    torch.manual_seed(0)
    method = BEATs(**SMALL).train()
    g = torch.Generator().manual_seed(4)
    fbank = torch.randn(2, 16, 32, generator=g)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[1, 10:] = True
    other = torch.randn(2, 16, 32, generator=g)

    def loss(batch: dict) -> torch.Tensor:
        torch.manual_seed(9)  # same masks for every call
        return method.training_losses(batch)["loss"]

    plain = loss({"fbank": fbank, "padding_mask": mask})
    same = loss({"fbank": fbank, "padding_mask": mask, "target_fbank": fbank.clone()})
    assert torch.equal(plain, same)
    # labels follow the target view: predicting the other clip's labels is a different loss
    swapped = loss({"fbank": fbank, "padding_mask": mask, "target_fbank": other})
    assert not torch.allclose(plain, swapped)
    # the tokenizer reads the target view (padding zeroed), the encoder the input view
    seen: list[torch.Tensor] = []
    tokenize = method.tokenizer.forward
    method.tokenizer.forward = lambda f, m: (seen.append(f), tokenize(f, m))[1]
    loss({"fbank": fbank, "padding_mask": mask, "target_fbank": other})
    assert len(seen) == 1 and torch.equal(seen[0], other.masked_fill(mask[..., None], 0.0))
    with pytest.raises(MalformedBatchError, match="target_fbank"):
        method.training_losses({"fbank": fbank, "padding_mask": mask, "target_fbank": other[:1]})

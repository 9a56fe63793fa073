"""Front end: WAV reading, downmix/resampling, pinned Kaldi fbank, normalisation, padding."""

from __future__ import annotations

import math
import wave

import pytest
import torch

from selfsup_audio.frontends import (
    AUDIOSET_MEAN,
    AUDIOSET_STD,
    AudioLoadError,
    Fbank,
    fbank_statistics,
    kaldi_fbank,
    load_waveform,
    normalize_fbank,
    num_frames,
    pad_features,
    prepare_waveform,
    read_wav,
)


def write_wav(path, samples: torch.Tensor, rate: int, width: int = 2) -> None:
    """Write (C, N) float samples in [-1, 1] as integer PCM."""
    channels = samples.shape[0]
    scale = 2 ** (8 * width - 1) - 1
    ints = (samples.T.reshape(-1) * scale).round().long()
    if width == 2:
        raw = ints.to(torch.int16).numpy().tobytes()
    else:
        raw = ints.to(torch.int32).numpy().tobytes()
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(raw)


def tone(freq: float, rate: int, seconds: float) -> torch.Tensor:
    t = torch.arange(int(rate * seconds)) / rate
    return 0.5 * torch.sin(2 * math.pi * freq * t)


def test_read_wav_round_trips_int16_and_downmixes(tmp_path) -> None:
    x = torch.stack([tone(440, 8000, 0.1), -0.25 * torch.ones(800)])
    write_wav(tmp_path / "a.wav", x, 8000)
    data, rate = read_wav(str(tmp_path / "a.wav"))
    assert rate == 8000 and data.shape == (2, 800)
    torch.testing.assert_close(data, x, atol=1 / 32767, rtol=0)
    mono = prepare_waveform(data, rate, target_rate=8000)
    torch.testing.assert_close(mono, x.mean(0), atol=1 / 32767, rtol=0)


def test_read_wav_32_bit(tmp_path) -> None:
    x = tone(300, 8000, 0.05)[None]
    write_wav(tmp_path / "b.wav", x, 8000, width=4)
    data, _ = read_wav(str(tmp_path / "b.wav"))
    torch.testing.assert_close(data, x, atol=1e-6, rtol=0)


def test_load_resamples_to_16k_and_keeps_the_tone(tmp_path) -> None:
    write_wav(tmp_path / "c.wav", tone(1000, 8000, 0.5)[None], 8000)
    wave16 = load_waveform(str(tmp_path / "c.wav"), 16000)
    assert wave16.shape == (8000,)
    spectrum = torch.fft.rfft(wave16).abs()
    assert abs(int(spectrum.argmax()) * 16000 / 8000 - 1000) <= 2


@pytest.mark.parametrize(
    ("content", "pattern"),
    [(b"", "empty"), (b"RIFF\x00\x00garbage-not-a-wav", "not a readable PCM WAV")],
)
def test_corrupt_and_empty_files_raise(tmp_path, content: bytes, pattern: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioLoadError, match=pattern):
        load_waveform(str(path))


def test_header_only_wav_and_missing_file_raise(tmp_path) -> None:
    write_wav(tmp_path / "h.wav", torch.zeros(1, 0), 8000)
    with pytest.raises(AudioLoadError, match="no samples"):
        load_waveform(str(tmp_path / "h.wav"))
    with pytest.raises(AudioLoadError, match="does not exist"):
        load_waveform(str(tmp_path / "nope.wav"))


def test_nan_waveform_is_rejected() -> None:
    x = torch.zeros(100)
    x[3] = float("nan")
    with pytest.raises(AudioLoadError, match="NaN"):
        prepare_waveform(x, 16000)
    with pytest.raises(ValueError, match="NaN"):
        kaldi_fbank(x)


def test_kaldi_fbank_pins_every_beats_argument() -> None:
    from torchaudio.compliance import kaldi

    x = torch.randn(16000, generator=torch.Generator().manual_seed(0)) * 0.1
    ours = kaldi_fbank(x)
    # the call BEATs makes, written out argument by argument (not through BEATS_FBANK_ARGS)
    reference = kaldi.fbank(
        x[None] * 32768,
        num_mel_bins=128,
        sample_frequency=16000,
        frame_length=25,
        frame_shift=10,
        dither=0.0,
        energy_floor=1.0,
        window_type="povey",
        preemphasis_coefficient=0.97,
        remove_dc_offset=True,
        round_to_power_of_two=True,
        snip_edges=True,
        low_freq=20,
        high_freq=0,
        use_log_fbank=True,
        use_power=True,
        use_energy=False,
        raw_energy=True,
        htk_compat=False,
        subtract_mean=False,
        blackman_coeff=0.42,
        vtln_warp=1.0,
    )
    torch.testing.assert_close(ours, reference)
    assert ours.shape == (1 + (16000 - 400) // 160, 128) == (num_frames(16000), 128)


def test_fbank_has_no_dither() -> None:
    x = torch.randn(4000, generator=torch.Generator().manual_seed(1)) * 0.1
    torch.testing.assert_close(kaldi_fbank(x), kaldi_fbank(x))


def test_fbank_puts_a_tone_in_the_right_mel_bin() -> None:
    f = kaldi_fbank(tone(2000, 16000, 0.3))
    mel = 1127 * math.log(1 + 2000 / 700)
    lo, hi = 1127 * math.log(1 + 20 / 700), 1127 * math.log(1 + 8000 / 700)
    expected = (mel - lo) / (hi - lo) * 129 - 1  # centre of bin b is at b + 1 of 129 steps
    assert abs(int(f.mean(0).argmax()) - expected) <= 1


def test_short_clip_is_padded_to_one_frame_and_empty_raises() -> None:
    assert kaldi_fbank(torch.randn(100) * 0.1).shape == (1, 128)
    assert num_frames(100) == 1
    with pytest.raises(ValueError, match="empty"):
        kaldi_fbank(torch.zeros(0))
    with pytest.raises(ValueError, match="mono"):
        kaldi_fbank(torch.zeros(2, 800))


def test_normalisation_and_statistics_match_float64_reference() -> None:
    g = torch.Generator().manual_seed(2)
    feats = [torch.randn(n, 4, generator=g) * 3 + 7 for n in (5, 9, 1)]
    mean, std = fbank_statistics(feats)
    allv = torch.cat([f.flatten() for f in feats]).double()
    assert mean == pytest.approx(float(allv.mean()), abs=1e-9)
    assert std == pytest.approx(float(allv.std(unbiased=False)), abs=1e-9)
    x = torch.tensor([AUDIOSET_MEAN, AUDIOSET_MEAN + 2 * AUDIOSET_STD])
    torch.testing.assert_close(normalize_fbank(x), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="std"):
        normalize_fbank(x, 0.0, 0.0)


def test_pad_features_masks_padding_and_rounds_up() -> None:
    feats = [torch.ones(3, 2), 2 * torch.ones(17, 2)]
    batch, mask = pad_features(feats, min_frames=16, multiple_of=16)
    assert batch.shape == (2, 32, 2) and mask.shape == (2, 32)
    assert mask.sum(1).tolist() == [29, 15]
    assert bool((batch[0, 3:] == 0).all()) and bool((batch[1, :17] == 2).all())
    with pytest.raises(ValueError, match="at least one"):
        pad_features([])


def test_batch_front_end_matches_per_clip_features() -> None:
    g = torch.Generator().manual_seed(3)
    waves = torch.randn(2, 3200, generator=g) * 0.1
    fb, mask = Fbank()(waves, torch.tensor([3200, 1000]))
    assert fb.shape == (2, 32, 128)
    assert (~mask).sum(1).tolist() == [num_frames(3200), num_frames(1000)]
    torch.testing.assert_close(
        fb[1, : num_frames(1000)], normalize_fbank(kaldi_fbank(waves[1, :1000]))
    )
    with pytest.raises(ValueError, match="mono"):
        Fbank()(waves[:, None])

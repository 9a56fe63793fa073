"""Waveform -> time-frequency frontends (torchaudio is imported when one is used)."""

from selfsup_audio.frontends.audio_io import (
    CHANNELS,
    DOWNMIX_MIN_ENERGY,
    AudioLoadError,
    DownmixWarning,
    check_channel,
    decode_wav,
    downmix,
    load_waveform,
    prepare_waveform,
    read_wav,
)
from selfsup_audio.frontends.fbank import (
    AUDIOSET_MEAN,
    AUDIOSET_STD,
    BEATS_FBANK_ARGS,
    Fbank,
    fbank_statistics,
    frame_span,
    kaldi_fbank,
    normalize_fbank,
    num_frames,
    pad_features,
)
from selfsup_audio.frontends.log_mel import LogMelSpectrogram

__all__ = [
    "AUDIOSET_MEAN",
    "AUDIOSET_STD",
    "BEATS_FBANK_ARGS",
    "CHANNELS",
    "DOWNMIX_MIN_ENERGY",
    "AudioLoadError",
    "DownmixWarning",
    "Fbank",
    "LogMelSpectrogram",
    "check_channel",
    "decode_wav",
    "downmix",
    "fbank_statistics",
    "frame_span",
    "kaldi_fbank",
    "load_waveform",
    "normalize_fbank",
    "num_frames",
    "pad_features",
    "prepare_waveform",
    "read_wav",
]

"""Reading audio files into mono float waveforms at the model's sampling rate."""

from __future__ import annotations

import os
import wave

import torch
from torch import Tensor

from selfsup.imports import require

__all__ = ["AudioLoadError", "load_waveform", "prepare_waveform", "read_wav"]


class AudioLoadError(ValueError):
    """An audio file cannot be turned into a usable waveform (missing, corrupt, empty, NaN)."""


def read_wav(path: str) -> tuple[Tensor, int]:
    """Decode a PCM WAV file with the standard library (no torchaudio/TorchCodec decoder needed).

    8-bit (unsigned), 16-, 24- and 32-bit (signed) integer PCM is scaled to ``[-1, 1)`` by
    ``x / 2^(bits - 1)`` (8-bit: ``(x - 128) / 128``). Other formats (float WAV, FLAC, OGG,
    MP3) are read with ``soundfile`` when it is installed
    (``pip install 'selfsup-audio[soundfile]'``).

    Args:
        path: File path.

    Returns:
        ``(waveform, sample_rate)`` with ``waveform`` float32 of shape ``(channels, samples)``.

    Raises:
        AudioLoadError: missing, unreadable, corrupt or empty file.
    """
    if not os.path.isfile(path):
        raise AudioLoadError(f"audio file {path!r} does not exist.")
    if os.path.getsize(path) == 0:
        raise AudioLoadError(f"audio file {path!r} is empty (0 bytes).")
    try:
        with wave.open(path, "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            raw = f.readframes(f.getnframes())
    except (wave.Error, EOFError) as err:
        return _read_with_soundfile(path, err)
    if width not in (1, 2, 3, 4) or channels < 1 or rate <= 0:
        raise AudioLoadError(
            f"audio file {path!r} has an unsupported WAV header (channels={channels}, "
            f"sample width={width} bytes, rate={rate} Hz)."
        )
    frame_bytes = width * channels
    usable = len(raw) - len(raw) % frame_bytes  # a truncated last frame is dropped
    if usable == 0:
        raise AudioLoadError(f"audio file {path!r} holds no samples (header only).")
    data = torch.frombuffer(bytearray(raw[:usable]), dtype=torch.uint8)
    if width == 1:
        samples = (data.float() - 128.0) / 128.0
    elif width == 3:
        b = data.view(-1, 3).long()
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = torch.where(ints >= 2**23, ints - 2**24, ints)
        samples = ints.float() / 2.0**23
    else:
        dtype = torch.int16 if width == 2 else torch.int32
        samples = data.view(dtype).float() / 2.0 ** (8 * width - 1)
    return samples.view(-1, channels).T.contiguous(), rate


def _read_with_soundfile(path: str, wav_error: Exception) -> tuple[Tensor, int]:
    try:
        soundfile = require("soundfile", "soundfile", extra="selfsup-audio[soundfile]")
    except ImportError as err:
        # an AudioLoadError, not an ImportError: a corrupt WAV is the usual cause, and data
        # modules may skip bad files (skip_bad_files=True)
        raise AudioLoadError(
            f"audio file {path!r} is not a readable PCM WAV ({wav_error}); it is corrupt or in "
            f"another format: convert it to PCM WAV, or read it with soundfile ({err})."
        ) from wav_error
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioLoadError(
            f"audio file {path!r} is not a readable PCM WAV ({wav_error}) and soundfile cannot "
            f"decode it either ({err}); it is corrupt or in an unsupported format."
        ) from err
    if data.shape[0] == 0:
        raise AudioLoadError(f"audio file {path!r} holds no samples.")
    return torch.from_numpy(data.T.copy()), int(rate)


def prepare_waveform(waveform: Tensor, sample_rate: int, target_rate: int = 16000) -> Tensor:
    """Downmix to mono, check for NaN/inf and resample to ``target_rate``.

    Multi-channel audio is averaged over channels; other rates are resampled with
    ``torchaudio.functional.resample`` (windowed-sinc, the torchaudio default).

    Args:
        waveform: ``(samples,)`` or ``(channels, samples)`` float audio in ``[-1, 1]``.
        sample_rate: Rate of ``waveform`` in Hz.
        target_rate: Rate of the result in Hz (default 16000, BEATs' rate).

    Returns:
        Mono float32 waveform.

    Shapes:
        ``(samples,)`` or ``(C, samples)`` -> ``(samples * target_rate / sample_rate,)``.

    Raises:
        AudioLoadError: empty input, NaN/inf samples, or a non-positive rate.
    """
    if sample_rate <= 0 or target_rate <= 0:
        raise AudioLoadError(f"sample rates must be > 0, got {sample_rate} -> {target_rate}.")
    if waveform.dim() == 1:
        waveform = waveform[None]
    if waveform.dim() != 2:
        raise AudioLoadError(
            f"waveform must be (samples,) or (channels, samples), got {tuple(waveform.shape)}."
        )
    if waveform.numel() == 0:
        raise AudioLoadError("waveform holds no samples.")
    if not torch.isfinite(waveform).all():
        raise AudioLoadError(
            "waveform contains NaN or inf samples; repair or drop the clip (e.g. "
            "torch.nan_to_num) before feature extraction."
        )
    mono = waveform.float().mean(dim=0)
    if sample_rate != target_rate:
        import torchaudio

        mono = torchaudio.functional.resample(mono, sample_rate, target_rate)
    return mono


def load_waveform(path: str, target_rate: int = 16000) -> Tensor:
    """Read an audio file as a mono float32 waveform at ``target_rate``.

    Args:
        path: File path (PCM WAV; other formats need ``soundfile``).
        target_rate: Output rate in Hz (default 16000).

    Shapes:
        returns ``(samples,)``.

    Raises:
        AudioLoadError: missing, corrupt, empty or non-finite audio (message names the file).
    """
    waveform, rate = read_wav(path)
    try:
        return prepare_waveform(waveform, rate, target_rate)
    except AudioLoadError as err:
        raise AudioLoadError(f"{path!r}: {err}") from err

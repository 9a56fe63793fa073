"""Reading audio files into mono float waveforms at the model's sampling rate."""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import torch
from torch import Tensor

from selfsup.imports import require

__all__ = [
    "CHANNELS",
    "DOWNMIX_MIN_ENERGY",
    "AudioLoadError",
    "DownmixWarning",
    "check_channel",
    "decode_wav",
    "downmix",
    "load_waveform",
    "prepare_waveform",
    "read_wav",
]

#: ``channel=`` names: average the channels (default), or keep the first / second one.
CHANNELS = ("mean", "left", "right")

#: A mean downmix keeping less than this share of the channels' energy draws a
#: :class:`DownmixWarning` (opposite-phase channels cancel out).
DOWNMIX_MIN_ENERGY = 0.01

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
# streaming writers (ffmpeg to a pipe, some recorders) cannot seek back to fill in the size
_UNKNOWN_SIZE = 0xFFFFFFFF


class AudioLoadError(ValueError):
    """An audio file cannot be turned into a usable waveform (missing, corrupt, truncated,
    empty, NaN)."""


class DownmixWarning(UserWarning):
    """Averaging a file's channels to mono destroyed most of its signal (opposite-phase
    channels). Make it an error with ``warnings.simplefilter("error", DownmixWarning)``."""


def read_wav(path: str) -> tuple[Tensor, int]:
    """Decode a WAV file with the standard library (no torchaudio/TorchCodec decoder needed).

    Integer PCM (8-bit unsigned, 16-, 24- and 32-bit signed) is scaled to ``[-1, 1)`` by
    ``x / 2^(bits - 1)`` (8-bit: ``(x - 128) / 128``); IEEE float WAV (32- or 64-bit) is read as
    it is. ``WAVE_FORMAT_EXTENSIBLE`` headers of either are understood. Other files (FLAC, OGG,
    MP3, compressed WAV such as ADPCM or mu-law) are read with ``soundfile`` when it is installed
    (``pip install 'selfsup-audio[soundfile]'``), whose own checks then apply.

    The header is checked against the file: a ``data`` chunk that promises more bytes than the
    file holds (a truncated download or copy) is refused rather than read in part, except for the
    size ``0xFFFFFFFF`` that streaming writers put when they cannot know the length (then the
    samples run to the end of the file). A trailing partial frame (fewer bytes than one sample of
    every channel) is dropped.

    Args:
        path: File path.

    Returns:
        ``(waveform, sample_rate)`` with ``waveform`` float32 of shape ``(channels, samples)``.

    Raises:
        AudioLoadError: missing, empty, header-only, truncated or corrupt file, an unsupported
            sample width, or a header with 0 channels or a 0 Hz sample rate (the message names
            the file).

    Examples:
        >>> import tempfile, wave
        >>> path = tempfile.mkdtemp() + "/a.wav"
        >>> with wave.open(path, "wb") as f:
        ...     f.setnchannels(1); f.setsampwidth(2); f.setframerate(8000)
        ...     f.writeframes(b"\\x00\\x40" * 4)
        >>> read_wav(path)
        (tensor([[0.5000, 0.5000, 0.5000, 0.5000]]), 8000)
    """
    if not os.path.isfile(path):
        raise AudioLoadError(f"audio file {path!r} does not exist.")
    return decode_wav(Path(path).read_bytes(), path)


def decode_wav(raw: bytes, path: str = "<bytes>") -> tuple[Tensor, int]:
    """Decode an audio file's bytes (e.g. a tar shard member) as :func:`read_wav` reads a file.

    Args:
        raw: The file's bytes.
        path: What the bytes are (a file or shard member name), for messages.

    Returns:
        ``(waveform, sample_rate)`` with ``waveform`` float32 of shape ``(channels, samples)``.

    Raises:
        AudioLoadError: as :func:`read_wav` (the message names ``path``).

    Examples:
        >>> import io, wave
        >>> buffer = io.BytesIO()
        >>> with wave.open(buffer, "wb") as f:
        ...     f.setnchannels(1); f.setsampwidth(2); f.setframerate(8000)
        ...     f.writeframes(b"\\x00\\x40" * 2)
        >>> decode_wav(buffer.getvalue(), "clip.wav")
        (tensor([[0.5000, 0.5000]]), 8000)
    """
    if not raw:
        raise AudioLoadError(f"audio file {path!r} is empty (0 bytes).")
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        reason = f"no RIFF/WAVE header: it starts with {raw[:12]!r}"
        return _read_with_soundfile(path, reason, raw)
    fmt, data, promised = _wav_chunks(path, raw)
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = int.from_bytes(fmt[24:26], "little")  # the first two bytes of the sub-format GUID
    if tag not in (_PCM, _FLOAT):
        reason = f"its samples are encoded with WAV format {tag:#06x}"
        return _read_with_soundfile(path, reason, raw)
    width = (bits + 7) // 8
    if channels < 1 or rate < 1:
        raise AudioLoadError(
            f"audio file {path!r} has a corrupt WAV header: {channels} channel(s) at {rate} Hz; "
            "a file needs at least one channel and a sample rate above 0 (re-export it)."
        )
    supported = (1, 2, 3, 4) if tag == _PCM else (4, 8)
    if width not in supported:
        kinds = "8/16/24/32-bit integer PCM" if tag == _PCM else "32/64-bit float"
        raise AudioLoadError(
            f"audio file {path!r} has {bits}-bit {'integer' if tag == _PCM else 'float'} samples, "
            f"which are not supported ({kinds} is); convert it, e.g. `sox in.wav -b 16 out.wav`."
        )
    if block != width * channels:
        raise AudioLoadError(
            f"audio file {path!r} has a corrupt WAV header: {block} bytes per frame for "
            f"{channels} channel(s) of {bits}-bit samples (expected {width * channels})."
        )
    frames = len(data) // block
    if len(data) < promised:
        raise AudioLoadError(
            f"audio file {path!r} is truncated: its header promises {promised // block} samples "
            f"per channel ({promised} bytes of data) but the file holds {frames} ({len(data)} "
            "bytes); copy or download it again, or skip it (skip_bad_files=True)."
        )
    if frames == 0:
        raise AudioLoadError(f"audio file {path!r} holds no samples (header only).")
    samples = _decode(data[: frames * block], tag, width)
    return samples.view(-1, channels).T.contiguous(), rate


def _wav_chunks(path: str, raw: bytes) -> tuple[bytes, bytes, int]:
    """``(fmt chunk, data bytes present, data bytes promised)`` of a RIFF/WAVE file."""
    fmt: bytes | None = None
    data: bytes | None = None
    promised = 0
    pos = 12
    while pos + 8 <= len(raw) and (fmt is None or data is None):
        chunk, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"data":
            promised = len(raw) - body if size == _UNKNOWN_SIZE else size
            data = raw[body : body + promised]
        elif chunk == b"fmt ":
            fmt = raw[body : body + size]
        pos = body + size + (size & 1)  # chunks are padded to an even length
    if fmt is None or len(fmt) < 16:
        raise AudioLoadError(
            f"audio file {path!r} has no complete 'fmt ' chunk: the WAV header is corrupt or the "
            "file is truncated; re-export it."
        )
    if data is None:
        raise AudioLoadError(
            f"audio file {path!r} has no 'data' chunk: the file ends inside its header "
            "(truncated?); copy or download it again."
        )
    return fmt, data, promised


def _decode(data: bytes, tag: int, width: int) -> Tensor:
    buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    if tag == _FLOAT:
        return buffer.view(torch.float32 if width == 4 else torch.float64).float()
    if width == 1:
        return (buffer.float() - 128.0) / 128.0
    if width == 3:
        b = buffer.view(-1, 3).long()
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = torch.where(ints >= 2**23, ints - 2**24, ints)
        return ints.float() / 2.0**23
    dtype = torch.int16 if width == 2 else torch.int32
    return buffer.view(dtype).float() / 2.0 ** (8 * width - 1)


def _read_with_soundfile(path: str, reason: str, raw: bytes) -> tuple[Tensor, int]:
    try:
        soundfile = require("soundfile", "soundfile", extra="selfsup-audio[soundfile]")
    except ImportError as err:
        # an AudioLoadError, not an ImportError: a corrupt WAV is the usual cause, and data
        # modules may skip bad files (skip_bad_files=True)
        raise AudioLoadError(
            f"audio file {path!r} is not a readable PCM WAV ({reason}); it is corrupt or in "
            f"another format: convert it to PCM WAV, or read it with soundfile ({err})."
        ) from None
    try:
        data, rate = soundfile.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioLoadError(
            f"audio file {path!r} is not a readable PCM WAV ({reason}) and soundfile cannot "
            f"decode it either ({err}); it is corrupt or in an unsupported format."
        ) from err
    if data.shape[0] == 0:
        raise AudioLoadError(f"audio file {path!r} holds no samples.")
    return torch.from_numpy(data.T.copy()), int(rate)


def check_channel(channel: str | int) -> str | int:
    """Validate a ``channel=`` choice: ``"mean"``, ``"left"``, ``"right"`` or an index >= 0.

    Raises:
        ValueError: anything else.
    """
    ok = channel in CHANNELS if isinstance(channel, str) else False
    if isinstance(channel, int) and not isinstance(channel, bool):
        ok = channel >= 0
    if not ok:
        raise ValueError(
            f"channel must be 'mean' (average the channels), 'left', 'right' or a channel index "
            f">= 0, got {channel!r}."
        )
    return channel


def downmix(waveform: Tensor, channel: str | int = "mean", source: str | None = None) -> Tensor:
    """One channel of ``(C, N)`` audio: the average of the channels, or the one ``channel`` names.

    .. math::

        m = \\frac{1}{C} \\sum_c x_c, \\qquad
        \\text{warn if } \\|m\\|^2 < 0.01 \\cdot \\frac{1}{C} \\sum_c \\|x_c\\|^2

    Averaging is the documented default, but channels in opposite phase cancel out: when the
    mean keeps less than :data:`DOWNMIX_MIN_ENERGY` (1 %) of the channels' average energy a
    :class:`DownmixWarning` names the source and the fix (``channel="left"``/``"right"``).
    ``"left"`` / ``"right"`` / an index keep that channel (``"left"`` = 0, ``"right"`` = 1);
    mono audio is returned as it is whatever ``channel`` says, so a folder may mix mono and
    stereo files.

    Args:
        waveform: ``(C, N)`` float audio.
        channel: ``"mean"`` (default), ``"left"``, ``"right"`` or a channel index.
        source: What the audio is (a file path), for messages (default None).

    Shapes:
        ``(C, N)`` -> ``(N,)``.

    Raises:
        ValueError: an unknown ``channel``.
        AudioLoadError: a channel index the audio does not have.

    Examples:
        >>> downmix(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([2., 3.])
        >>> downmix(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "right")
        tensor([3., 4.])
    """
    channel = check_channel(channel)
    where = f"{source!r}: " if source is not None else ""
    count = waveform.shape[0]
    if count == 1:
        return waveform[0]
    if channel != "mean":
        index = {"left": 0, "right": 1}.get(channel, channel)  # type: ignore[arg-type]
        if int(index) >= count:
            raise AudioLoadError(
                f"{where}channel={channel!r} asked for channel {index}, but the audio has {count}."
            )
        return waveform[int(index)]
    mono = waveform.mean(dim=0)
    channels_energy = float(waveform.double().pow(2).sum(dim=1).mean())
    mono_energy = float(mono.double().pow(2).sum())
    if channels_energy > 0 and mono_energy < DOWNMIX_MIN_ENERGY * channels_energy:
        warnings.warn(
            f"{where}averaging its {count} channels to mono keeps "
            f"{mono_energy / channels_energy:.2%} of their energy (channels in opposite phase "
            "cancel out), so the clip becomes near silence; pick one channel with "
            "channel='left' or channel='right' (load_waveform, AudioFolderDataModule).",
            DownmixWarning,
            stacklevel=2,
        )
    return mono


def prepare_waveform(
    waveform: Tensor,
    sample_rate: int,
    target_rate: int = 16000,
    channel: str | int = "mean",
    source: str | None = None,
) -> Tensor:
    """Check for NaN/inf, downmix to mono (:func:`downmix`) and resample to ``target_rate``.

    Other rates are resampled with ``torchaudio.functional.resample`` (windowed-sinc, the
    torchaudio default).

    Args:
        waveform: ``(samples,)`` or ``(channels, samples)`` float audio in ``[-1, 1]``.
        sample_rate: Rate of ``waveform`` in Hz.
        target_rate: Rate of the result in Hz (default 16000, BEATs' rate).
        channel: ``"mean"`` (default: average the channels), ``"left"``, ``"right"`` or an index.
        source: What the audio is (a file path), for messages (default None).

    Returns:
        Mono float32 waveform.

    Shapes:
        ``(samples,)`` or ``(C, samples)`` -> ``(samples * target_rate / sample_rate,)``.

    Raises:
        AudioLoadError: empty input, NaN/inf samples, or a non-positive rate.

    Examples:
        >>> prepare_waveform(torch.ones(2, 8000), 8000).shape
        torch.Size([16000])
    """
    where = f"{source!r}: " if source is not None else ""
    if sample_rate <= 0 or target_rate <= 0:
        raise AudioLoadError(
            f"{where}sample rates must be > 0, got {sample_rate} -> {target_rate}."
        )
    if waveform.dim() == 1:
        waveform = waveform[None]
    if waveform.dim() != 2:
        raise AudioLoadError(
            f"{where}waveform must be (samples,) or (channels, samples), got "
            f"{tuple(waveform.shape)}."
        )
    if waveform.numel() == 0:
        raise AudioLoadError(f"{where}waveform holds no samples.")
    bad = ~torch.isfinite(waveform)
    if bool(bad.any()):
        first = int(bad.any(dim=0).nonzero()[0])
        raise AudioLoadError(
            f"{where}{int(bad.sum())} NaN or inf sample(s) (the first at sample {first} of "
            f"{waveform.shape[1]}); repair or drop the clip (e.g. torch.nan_to_num) before "
            "feature extraction."
        )
    mono = downmix(waveform.float(), channel, source)
    if sample_rate != target_rate:
        import torchaudio

        mono = torchaudio.functional.resample(mono, sample_rate, target_rate)
    return mono


def load_waveform(path: str, target_rate: int = 16000, channel: str | int = "mean") -> Tensor:
    """Read an audio file as a mono float32 waveform at ``target_rate``.

    Args:
        path: File path (WAV; other formats need ``soundfile``).
        target_rate: Output rate in Hz (default 16000).
        channel: ``"mean"`` (default: average the channels, with a :class:`DownmixWarning`
            when that cancels the signal), ``"left"``, ``"right"`` or a channel index.

    Shapes:
        returns ``(samples,)``.

    Raises:
        AudioLoadError: missing, corrupt, truncated, empty or non-finite audio (the message
            names the file).

    Examples:
        >>> import tempfile, wave
        >>> path = tempfile.mkdtemp() + "/a.wav"
        >>> with wave.open(path, "wb") as f:
        ...     f.setnchannels(2); f.setsampwidth(2); f.setframerate(16000)
        ...     f.writeframes(b"\\x00\\x40\\x00\\x00" * 4)
        >>> load_waveform(path, channel="left")
        tensor([0.5000, 0.5000, 0.5000, 0.5000])
    """
    waveform, rate = read_wav(path)
    return prepare_waveform(waveform, rate, target_rate, channel, source=path)

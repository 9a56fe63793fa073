"""Shared fixtures. Tiny CPU tensors: one intra-op thread avoids thread start-up costs."""

from __future__ import annotations

import math
import wave

import pytest
import torch

torch.set_num_threads(1)


def write_wav_tone(
    path, seconds: float, freq: float = 440.0, rate: int = 8000, channels: int = 1
) -> None:
    t = torch.arange(int(rate * seconds)) / rate
    x = (0.3 * torch.sin(2 * math.pi * freq * t) * 32767).to(torch.int16)
    x = x[:, None].expand(-1, channels).reshape(-1)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(x.numpy().tobytes())


@pytest.fixture
def wav_tone():
    """:func:`write_wav_tone`, for tests that write their own clips."""
    return write_wav_tone


@pytest.fixture
def recordings(tmp_path):
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for digit in range(3):
        for take in (0, 1, 5, 6, 7, 8):
            write_wav_tone(
                folder / f"{digit}_alice_{take}.wav", 0.05 + 0.03 * take, 300 + 200 * digit
            )
    write_wav_tone(folder / "2_bob_9.wav", 0.3, channels=2)  # stereo: downmixed
    write_wav_tone(folder / "1_bob_10.wav", 0.2, rate=22050)  # other rate: resampled
    (folder / "README.txt").write_text("ignored")
    return tmp_path


@pytest.fixture
def my_audio(tmp_path):
    """A user's audio folder: 8 clips under two label folders (nested, 8 and 16 kHz, 0.2-0.5 s),
    plus things that are not clips (a text file, a hidden folder, a macOS resource fork)."""
    root = tmp_path / "my_audio"
    for label, freq in (("birds", 900.0), ("engines", 150.0)):
        for i in range(4):
            folder = root / label / ("day1" if i % 2 else "day2")
            folder.mkdir(parents=True, exist_ok=True)
            rate = 16000 if i % 2 else 8000
            write_wav_tone(folder / f"clip_{i}.wav", 0.2 + 0.1 * i, freq + 50 * i, rate=rate)
    (root / "notes.txt").write_text("not audio")
    (root / ".cache").mkdir()
    write_wav_tone(root / ".cache" / "hidden.wav", 0.1)
    (root / "birds" / "._clip_0.wav").write_bytes(b"\x00\x05\x16\x07 resource fork")
    return root


@pytest.fixture
def my_audio_ids() -> list[str]:
    """The ids of ``my_audio``'s clips: their paths under the folder, sorted."""
    return sorted(
        f"{label}/{'day1' if i % 2 else 'day2'}/clip_{i}.wav"
        for label in ("birds", "engines")
        for i in range(4)
    )

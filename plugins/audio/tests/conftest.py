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

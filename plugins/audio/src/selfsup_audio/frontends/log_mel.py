"""Log-compressed mel filterbank energies (torchaudio's ``MelSpectrogram``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.export import exportable

__all__ = ["LogMelSpectrogram"]


@exportable("audio:log_mel")
class LogMelSpectrogram(nn.Module):
    """``log(mel_power(x) + log_offset)`` of mono waveforms.

    The defaults follow COLA (Saeed et al., arXiv 2010.10915): 25 ms windows, 10 ms hop and
    64 mel bands between 60 and 7800 Hz at 16 kHz. torchaudio is imported here, at
    construction. The STFT window and the mel filterbank are (persistent) buffers.

    Args:
        sample_rate: Sampling rate in Hz (default 16000).
        n_fft: FFT size (default 512).
        win_length: Window length in samples (default 400 = 25 ms at 16 kHz).
        hop_length: Hop in samples (default 160 = 10 ms at 16 kHz).
        n_mels: Mel bands (default 64).
        f_min: Lowest band edge in Hz (default 60).
        f_max: Highest band edge in Hz; None for ``sample_rate / 2`` (default 7800).
        log_offset: Added before the log, bounds the output below (default 1e-6).

    Shapes:
        waveform: ``(B, T)`` -> ``(B, n_mels, 1 + T // hop_length)``.

    Examples:
        >>> LogMelSpectrogram()(torch.zeros(2, 16000)).shape
        torch.Size([2, 64, 101])
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 64,
        f_min: float = 60.0,
        f_max: float | None = 7800.0,
        log_offset: float = 1e-6,
    ) -> None:
        super().__init__()
        import torchaudio

        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft}).")
        nyquist = sample_rate / 2
        if f_max is not None and not f_min < f_max <= nyquist:
            raise ValueError(
                f"need f_min < f_max <= sample_rate / 2 = {nyquist}, got f_min={f_min}, "
                f"f_max={f_max}; pass f_max=None for the Nyquist frequency."
            )
        if log_offset <= 0:
            raise ValueError(f"log_offset must be > 0, got {log_offset}.")
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            power=2.0,
        )
        for module in self.mel.modules():
            for name, buf in module.named_buffers(recurse=False):
                # torch's periodic window is a view of a longer one: own storage lets
                # safetensors save it (selfsup export)
                setattr(module, name, buf.clone())
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.log_offset = log_offset

    def forward(self, waveform: Tensor) -> Tensor:
        # mel power is >= 0 for any real filterbank; the clamp keeps the log finite when the
        # stored filterbank weights have been edited (fine-tuned, perturbed) below zero
        return torch.log(self.mel(waveform).clamp_min(0.0) + self.log_offset)

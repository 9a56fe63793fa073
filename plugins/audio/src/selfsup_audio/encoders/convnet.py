"""A small 2-D ConvNet over (log-)mel spectrograms, and its waveform-in form (COLA's encoder)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.export import exportable
from selfsup_audio.frontends.log_mel import LogMelSpectrogram

__all__ = ["AudioConvNet", "LogMelConvNet", "waveform_features"]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    )


@exportable("audio:audio_convnet")
class AudioConvNet(nn.Module):
    """Input batch norm, three ``conv3x3-BN-ReLU-maxpool2`` blocks (``w, 2w, 4w`` channels),
    global max pooling over frequency and time (as COLA's encoder) and a linear layer.

    Args:
        width: Channels of the first block ``w`` (default 32).
        out_dim: Output feature size (default 512).

    Shapes:
        spectrogram: ``(B, n_mels, frames)`` -> ``(B, out_dim)``; any ``n_mels, frames >= 1``.

    Examples:
        >>> AudioConvNet(width=4, out_dim=8).eval()(torch.zeros(2, 16, 20)).shape
        torch.Size([2, 8])
    """

    def __init__(self, width: int = 32, out_dim: int = 512) -> None:
        super().__init__()
        if width < 1 or out_dim < 1:
            raise ValueError(f"width and out_dim must be >= 1, got {width}, {out_dim}.")
        self.out_dim = out_dim
        self.features = nn.Sequential(
            nn.BatchNorm2d(1),
            _block(1, width),
            _block(width, 2 * width),
            _block(2 * width, 4 * width),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(4 * width, out_dim)

    def forward(self, spectrogram: Tensor) -> Tensor:
        return self.fc(self.features(spectrogram.unsqueeze(1)))


def waveform_features(
    frontend: nn.Module, encoder: nn.Module, waveforms: Tensor, lengths: Tensor | None = None
) -> Tensor:
    """``encoder(frontend(x))`` of each clip's real samples.

    Without ``lengths`` the whole ``(B, N)`` batch goes through at once. With ``lengths`` each
    clip is cut to its own length and encoded alone (zero padding would change the
    spectrogram's frames and the ConvNet's max pooling), so a clip's vector does not depend on
    the batch it came in (the encoder must be in eval mode for that: batch norm).

    Shapes:
        waveforms ``(B, N)``, lengths ``(B,)`` -> ``(B, D)``.

    Examples:
        >>> frontend, encoder = LogMelSpectrogram(n_mels=16), AudioConvNet(4, 8).eval()
        >>> wave, lengths = torch.zeros(2, 800), torch.tensor([800, 500])
        >>> waveform_features(frontend, encoder, wave, lengths).shape
        torch.Size([2, 8])
    """
    if lengths is None:
        return encoder(frontend(waveforms))
    lengths = torch.as_tensor(lengths).tolist()
    if len(set(lengths)) == 1:
        return encoder(frontend(waveforms[:, : int(lengths[0])]))
    rows = [encoder(frontend(w[None, : int(n)])) for w, n in zip(waveforms, lengths, strict=True)]
    return torch.cat(rows)


@exportable("audio:log_mel_convnet")
class LogMelConvNet(nn.Module):
    """Mono waveforms in, one vector per clip out: :class:`LogMelSpectrogram` then
    :class:`AudioConvNet`. What ``selfsup export`` writes for COLA (without its projection
    head and bilinear similarity).

    Input: float waveforms in ``[-1, 1]``, mono, at ``sample_rate``; with ``lengths`` every clip
    is encoded over its own samples only (:func:`waveform_features`), as COLA's ``embed`` does
    for ``{"waveform", "lengths"}`` batches.

    Args:
        sample_rate, n_fft, win_length, hop_length, n_mels, f_min, f_max: The log-mel front end
            (defaults: COLA's, 16 kHz, 64 bands from 60 to 7800 Hz).
        width: ConvNet base width (default 32). out_dim: Output size (default 512).

    Shapes:
        waveforms ``(B, N)`` with ``N >= win_length``, lengths ``(B,)`` -> ``(B, out_dim)``.

    Examples:
        >>> net = LogMelConvNet(sample_rate=8000, n_fft=128, win_length=128, hop_length=64,
        ...                     n_mels=16, f_min=0.0, f_max=None, width=4, out_dim=8).eval()
        >>> net(torch.zeros(2, 1600), torch.tensor([1600, 800])).shape
        torch.Size([2, 8])
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
        width: int = 32,
        out_dim: int = 512,
    ) -> None:
        super().__init__()
        self.frontend = LogMelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            n_mels=n_mels,
            f_min=f_min,
            f_max=f_max,
        )
        self.encoder = AudioConvNet(width=width, out_dim=out_dim)
        self.sample_rate = sample_rate
        self.win_length = win_length

    def forward(self, waveforms: Tensor, lengths: Tensor | None = None) -> Tensor:
        if waveforms.dim() == 1:
            waveforms = waveforms[None]
        if waveforms.dim() != 2 or not waveforms.is_floating_point():
            raise ValueError(
                f"LogMelConvNet expects mono float waveforms (B, N) at {self.sample_rate} Hz, "
                f"got {tuple(waveforms.shape)} {waveforms.dtype}."
            )
        shortest = waveforms.shape[1] if lengths is None else int(torch.as_tensor(lengths).min())
        if shortest < self.win_length:
            raise ValueError(
                f"LogMelConvNet needs clips of at least win_length = {self.win_length} samples, "
                f"got {shortest}; pad short clips."
            )
        return waveform_features(self.frontend, self.encoder, waveforms, lengths)

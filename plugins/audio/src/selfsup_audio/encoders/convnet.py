"""A small 2-D ConvNet over (log-)mel spectrograms."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["AudioConvNet"]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class AudioConvNet(nn.Module):
    """Input batch norm, three ``conv3x3-BN-ReLU-maxpool2`` blocks (``w, 2w, 4w`` channels),
    global max pooling over frequency and time (as COLA's encoder) and a linear layer.

    Args:
        width: Channels of the first block ``w`` (default 32).
        out_dim: Output feature size (default 512).

    Shapes:
        spectrogram: ``(B, n_mels, frames)`` -> ``(B, out_dim)``; any ``n_mels, frames >= 1``.
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

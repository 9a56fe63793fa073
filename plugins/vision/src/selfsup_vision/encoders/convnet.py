"""A small VGG-style ConvNet for small images (CIFAR, STL at low resolution)."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.export import exportable

__all__ = ["SmallConvNet"]


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


@exportable("vision:small_convnet")
class SmallConvNet(nn.Module):
    """Four ``conv3x3-BN-ReLU`` blocks (widths ``w, 2w, 4w, 4w``; the 2nd and 3rd
    halve the resolution), global average pooling and a linear layer.

    Args:
        in_channels: Image channels ``C`` (default 3).
        width: Channels of the first block ``w`` (default 32).
        out_dim: Output feature size (default 128).

    Shapes:
        x: ``(B, C, H, W)`` with ``H, W >= 1`` -> ``(B, out_dim)``.

    Exportable as ``vision:small_convnet`` (:func:`selfsup.export.save_pretrained`).

    Examples:
        >>> import torch
        >>> SmallConvNet(width=4, out_dim=8)(torch.rand(2, 3, 16, 16)).shape
        torch.Size([2, 8])
    """

    def __init__(self, in_channels: int = 3, width: int = 32, out_dim: int = 128) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("width", width), ("out_dim", out_dim)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}.")
        self.in_channels = in_channels
        self.out_dim = out_dim
        self.features = nn.Sequential(
            _block(in_channels, width, 1),
            _block(width, 2 * width, 2),
            _block(2 * width, 4 * width, 2),
            _block(4 * width, 4 * width, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(4 * width, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))

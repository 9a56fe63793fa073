"""ResNet-18 from torchvision (random init) with an optional CIFAR stem."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ResNet18Encoder"]


class ResNet18Encoder(nn.Module):
    """``torchvision.models.resnet18(weights=None)`` without its classifier (He et al., 1512.03385).

    With ``cifar_stem`` the 7x7 stride-2 convolution and the max-pool are replaced by
    a 3x3 stride-1 convolution, as in SimCLR's CIFAR-10 experiments (Chen et al.,
    2002.05709, appendix B.9). torchvision is imported here, at construction.

    Args:
        in_channels: Image channels ``C`` (default 3).
        cifar_stem: Use the 3x3 stride-1 stem for 32x32 images (default True).

    Shapes:
        x: ``(B, C, H, W)`` -> ``(B, 512)``.
    """

    def __init__(self, in_channels: int = 3, cifar_stem: bool = True) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        if cifar_stem:
            net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()
        self.net = net
        self.in_channels = in_channels
        self.out_dim = 512

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

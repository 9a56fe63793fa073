"""Image encoders ``(B, C, H, W) -> (B, out_dim)``.

:class:`ResNet18Encoder` imports torchvision when constructed, not when this
package is imported.
"""

from selfsup_vision.encoders.convnet import SmallConvNet
from selfsup_vision.encoders.resnet import ResNet18Encoder

__all__ = ["ResNet18Encoder", "SmallConvNet"]

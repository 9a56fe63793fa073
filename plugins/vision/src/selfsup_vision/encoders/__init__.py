"""Image encoders ``(B, C, H, W) -> (B, out_dim)``.

torchvision and transformers are imported when an encoder is constructed, not when this
package is imported.
"""

from selfsup_vision.encoders.convnet import SmallConvNet
from selfsup_vision.encoders.resnet import ResNet18Encoder, ResNetEncoder
from selfsup_vision.encoders.transformer import TokenTransformer
from selfsup_vision.encoders.vit import ViTEncoder, patch_grid

__all__ = [
    "ResNet18Encoder",
    "ResNetEncoder",
    "SmallConvNet",
    "TokenTransformer",
    "ViTEncoder",
    "patch_grid",
]

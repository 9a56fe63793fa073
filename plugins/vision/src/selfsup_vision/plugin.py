"""The ``vision`` plugin record, read by :func:`selfsup.plugins.discover`.

Imports only :mod:`selfsup.plugins`: components (and torchvision) load on first use.
"""

from selfsup.plugins import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    name="vision",
    modality="vision",
    components={
        "simclr": "selfsup_vision.methods.simclr:SimCLR",
        "small_convnet": "selfsup_vision.encoders.convnet:SmallConvNet",
        "resnet18": "selfsup_vision.encoders.resnet:ResNet18Encoder",
        "simclr_augment": "selfsup_vision.transforms.simclr:SimCLRAugment",
    },
    description="Images: SimCLR with batched on-device augmentations; ConvNet/ResNet-18 encoders.",
    distribution="selfsup-vision",
)

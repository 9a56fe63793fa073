"""The ``vision`` plugin record, read by :func:`selfsup.plugins.discover`.

Imports only :mod:`selfsup.plugins`: components (torchvision, transformers) load on first use.
"""

from selfsup.plugins import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    name="vision",
    modality="vision",
    components={
        "simclr": "selfsup_vision.methods.simclr:SimCLR",
        "byol": "selfsup_vision.methods.byol:BYOL",
        "dino": "selfsup_vision.methods.dino:DINO",
        "ibot": "selfsup_vision.methods.ibot:IBOT",
        "swav": "selfsup_vision.methods.swav:SwAV",
        "moco": "selfsup_vision.methods.moco:MoCo",
        "moco_v3": "selfsup_vision.methods.moco:MoCoV3",
        "barlow_twins": "selfsup_vision.methods.barlow_twins:BarlowTwins",
        "vicreg": "selfsup_vision.methods.vicreg:VICReg",
        "mae": "selfsup_vision.methods.mae:MAE",
        "ijepa": "selfsup_vision.methods.ijepa:IJEPA",
        "small_convnet": "selfsup_vision.encoders.convnet:SmallConvNet",
        "resnet18": "selfsup_vision.encoders.resnet:ResNet18Encoder",
        "resnet": "selfsup_vision.encoders.resnet:ResNetEncoder",
        "vit": "selfsup_vision.encoders.vit:ViTEncoder",
        "simclr_augment": "selfsup_vision.augment.simclr:SimCLRAugment",
        "multi_view": "selfsup_vision.augment.views:MultiView",
        "image_folder": "selfsup_vision.data.folder:ImageFolderDataModule",
        "image_shards": "selfsup_vision.data.shards:ImageShardsDataModule",
        "torchvision_dataset": "selfsup_vision.data.torchvision_dataset:TorchvisionDataModule",
    },
    description=(
        "Images: SimCLR/DCL, MoCo v2, BYOL/DirectPred, DINO, iBOT, SwAV, Barlow Twins/Mixed, "
        "VICReg, MAE/GMML, I-JEPA; ResNet and Hugging Face ViT encoders; on-device and "
        "torchvision.transforms.v2 views."
    ),
    distribution="selfsup-vision",
    configs="selfsup_vision/configs",
)

"""Audio encoders: the COLA ConvNet and the BEATs-style patch transformer."""

from selfsup_audio.encoders.convnet import AudioConvNet
from selfsup_audio.encoders.patch_embed import (
    FbankPatchTokenizer,
    PatchEmbed,
    patch_grid,
    patch_padding_mask,
    patchify,
    sincos_positions,
)
from selfsup_audio.encoders.transformer import (
    SIZES,
    AudioEncoder,
    AudioTransformer,
    ConvPositions,
    RelativePositionBias,
    TransformerBlock,
    relative_position_bucket,
)

__all__ = [
    "SIZES",
    "AudioConvNet",
    "AudioEncoder",
    "AudioTransformer",
    "ConvPositions",
    "FbankPatchTokenizer",
    "PatchEmbed",
    "RelativePositionBias",
    "TransformerBlock",
    "patch_grid",
    "patch_padding_mask",
    "patchify",
    "relative_position_bucket",
    "sincos_positions",
]

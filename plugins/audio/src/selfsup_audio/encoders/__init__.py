"""Audio encoders: the COLA ConvNet and the BEATs-style patch transformer, and their exported
waveform-in forms (:class:`LogMelConvNet`, :class:`AudioEmbedder`)."""

from selfsup_audio.encoders.convnet import AudioConvNet, LogMelConvNet, waveform_features
from selfsup_audio.encoders.embedder import AudioEmbedder, clip_embedding
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
    "AudioEmbedder",
    "AudioEncoder",
    "AudioTransformer",
    "ConvPositions",
    "FbankPatchTokenizer",
    "LogMelConvNet",
    "PatchEmbed",
    "RelativePositionBias",
    "TransformerBlock",
    "clip_embedding",
    "patch_grid",
    "patch_padding_mask",
    "patchify",
    "relative_position_bucket",
    "sincos_positions",
    "waveform_features",
]

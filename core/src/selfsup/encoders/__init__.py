"""Modality-agnostic building blocks shared by every plugin: the transformer trunk, pooling and
the projection / prediction heads of joint-embedding methods, the prototype head of
self-distillation, the JEPA predictor and data2vec 2.0's convolution decoder."""

from selfsup.encoders.conv_decoder import ConvDecoder
from selfsup.encoders.heads import (
    BarlowTwinsProjectionHead,
    BYOLPredictionHead,
    BYOLProjectionHead,
    HeadBlock,
    MoCoV3PredictionHead,
    MoCoV3ProjectionHead,
    ProjectionHead,
    SimCLRProjectionHead,
    VICRegProjectionHead,
    mlp_blocks,
)
from selfsup.encoders.jepa_predictor import JEPAPredictor
from selfsup.encoders.pooling import masked_mean
from selfsup.encoders.prototype_heads import DINOProjectionHead
from selfsup.encoders.tokenizers import VectorTokenizer
from selfsup.encoders.transformer import TransformerBlock, TransformerTrunk

__all__ = [
    "BYOLPredictionHead",
    "BYOLProjectionHead",
    "BarlowTwinsProjectionHead",
    "ConvDecoder",
    "DINOProjectionHead",
    "HeadBlock",
    "JEPAPredictor",
    "MoCoV3PredictionHead",
    "MoCoV3ProjectionHead",
    "ProjectionHead",
    "SimCLRProjectionHead",
    "TransformerBlock",
    "TransformerTrunk",
    "VICRegProjectionHead",
    "VectorTokenizer",
    "masked_mean",
    "mlp_blocks",
]

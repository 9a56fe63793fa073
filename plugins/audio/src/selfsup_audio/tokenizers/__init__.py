"""Acoustic tokenizers: patch -> discrete label (iteration-1 random ones, the trained one,
HuBERT-style k-means)."""

from selfsup_audio.tokenizers.kmeans import KMeansTokenizer
from selfsup_audio.tokenizers.quantizer import NormEMAVectorQuantizer
from selfsup_audio.tokenizers.random_projection import BestRQTokenizer, RandomProjectionTokenizer
from selfsup_audio.tokenizers.trained import AcousticTokenizer

__all__ = [
    "AcousticTokenizer",
    "BestRQTokenizer",
    "KMeansTokenizer",
    "NormEMAVectorQuantizer",
    "RandomProjectionTokenizer",
]

"""Audio encoders ``(B, n_mels, frames) -> (B, out_dim)``."""

from selfsup_audio.encoders.convnet import AudioConvNet

__all__ = ["AudioConvNet"]

"""selfsup-audio: self-supervised learning on audio, as a selfsup plugin.

Importing this package is cheap (no torch, no torchaudio); components live in
:mod:`selfsup_audio.methods`, :mod:`selfsup_audio.encoders` and
:mod:`selfsup_audio.frontends` and are imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

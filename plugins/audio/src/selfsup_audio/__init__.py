"""selfsup-audio: self-supervised learning on audio, as a selfsup plugin.

Importing this package is cheap (no torch, no torchaudio); components live in
:mod:`selfsup_audio.methods` (BEATs, BEATs tokenizer training, COLA), :mod:`selfsup_audio.encoders`,
:mod:`selfsup_audio.tokenizers`, :mod:`selfsup_audio.frontends`, :mod:`selfsup_audio.data` and
:mod:`selfsup_audio.evaluation.downstream`, and are imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""selfsup-vision: self-supervised learning on images, as a selfsup plugin.

Importing this package is cheap (no torch, torchvision or transformers); components live in
:mod:`selfsup_vision.methods`, :mod:`selfsup_vision.encoders`, :mod:`selfsup_vision.transforms`,
:mod:`selfsup_vision.data`, :mod:`selfsup_vision.losses` and :mod:`selfsup_vision.evaluate` and are
imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""selfsup-vision: self-supervised learning on images, as a selfsup plugin.

Importing this package is cheap (no torch, no torchvision); components live in
:mod:`selfsup_vision.methods`, :mod:`selfsup_vision.encoders` and
:mod:`selfsup_vision.transforms` and are imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

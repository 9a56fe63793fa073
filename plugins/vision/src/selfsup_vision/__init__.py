"""selfsup-vision: self-supervised learning on images, as a selfsup plugin.

Importing this package is cheap (no torch, torchvision or transformers); components live in
:mod:`selfsup_vision.methods`, :mod:`selfsup_vision.encoders`, :mod:`selfsup_vision.augment`,
:mod:`selfsup_vision.data` and :mod:`selfsup_vision.evaluation` and are imported on demand
(the projection heads are core's, :mod:`selfsup.encoders`; ``selfsup_vision.losses`` only
forwards to :mod:`selfsup.losses` for one release).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

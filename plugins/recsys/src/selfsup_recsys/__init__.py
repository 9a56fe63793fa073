"""selfsup-recsys: self-supervised and retrieval learning for recommendation, as a selfsup plugin.

Importing this package is cheap (no torch); components live in
:mod:`selfsup_recsys.methods` and :mod:`selfsup_recsys.encoders` and are imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

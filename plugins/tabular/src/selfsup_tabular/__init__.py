"""selfsup-tabular: self-supervised learning on tabular data, as a selfsup plugin.

Importing this package is cheap (no torch); components live in
:mod:`selfsup_tabular.methods`, :mod:`selfsup_tabular.encoders` and
:mod:`selfsup_tabular.augment` and are imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""selfsup-graph: self-supervised learning on graphs (PyTorch Geometric), as a selfsup plugin.

Importing this package is cheap (no torch, no torch_geometric); components live in
:mod:`selfsup_graph.methods`, :mod:`selfsup_graph.encoders` and
:mod:`selfsup_graph.augment` and are imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

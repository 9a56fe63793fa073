"""selfsup: self-supervised learning for PyTorch across domains, on one core.

Importing :mod:`selfsup` loads torch only; plugins and domain libraries
(torch_geometric, torchaudio, torchvision, transformers) are imported on demand.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

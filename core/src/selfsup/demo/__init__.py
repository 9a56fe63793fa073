"""The built-in default experiment: SimCLR on scikit-learn's digits."""

from selfsup.demo.digits import DigitsDataModule
from selfsup.demo.vector_simclr import MLPEncoder, VectorSimCLR, mlp_encoder

__all__ = ["DigitsDataModule", "MLPEncoder", "VectorSimCLR", "mlp_encoder"]

"""Activation and normalisation factories shared by the GraphMAE encoders (GAT, GCN, GIN).

They follow GraphMAE's ``create_activation`` / ``create_norm`` (``graphmae/utils.py``): PReLU has a
single learnable slope (``nn.PReLU()``), norms act on the node-feature dimension.
"""

from __future__ import annotations

from torch import nn

__all__ = ["ACTIVATIONS", "NORMS", "check_choice", "make_activation", "make_norm"]

ACTIVATIONS: tuple[str, ...] = ("prelu", "relu", "elu", "gelu", "identity")
NORMS: tuple[str, ...] = ("batchnorm", "layernorm")


def make_activation(name: str | None) -> nn.Module:
    """``"prelu"`` (one slope, GraphMAE), ``"relu"``, ``"elu"``, ``"gelu"``, ``"identity"``/None.

    Raises:
        ValueError: On an unknown name.
    """
    if name is None or name == "identity":
        return nn.Identity()
    if name == "prelu":
        return nn.PReLU()
    if name == "relu":
        return nn.ReLU()
    if name == "elu":
        return nn.ELU()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}.")


def make_norm(name: str | None, channels: int) -> nn.Module:
    """``"batchnorm"`` (``BatchNorm1d``), ``"layernorm"`` (``LayerNorm``) or None (identity).

    Raises:
        ValueError: On an unknown name.
    """
    if name is None or name == "none":
        return nn.Identity()
    if name == "batchnorm":
        return nn.BatchNorm1d(channels)
    if name == "layernorm":
        return nn.LayerNorm(channels)
    raise ValueError(f"norm must be None or one of {NORMS}, got {name!r}.")


def check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")

"""Row embeddings from T-JEPA's token outputs: the [REG] tokens, the feature tokens or both."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["POOLINGS", "pool_tokens"]

#: Row-embedding poolings of T-JEPA (:meth:`~selfsup_tabular.methods.TJEPA.embed`).
POOLINGS = ("reg", "mean", "concat", "flatten")


def pool_tokens(tokens: Tensor, num_registers: int, pooling: str) -> Tensor:
    """Pool encoder outputs ``(B, R + F, d)`` into row embeddings.

    ``"reg"``: mean of the [REG] outputs ``(B, d)``; ``"mean"``: mean of the feature tokens
    ``(B, d)``; ``"concat"``: both side by side ``(B, 2d)``; ``"flatten"``: every token
    ``(B, (R + F) d)`` (T-JEPA's ``linear_flatten`` adapter input).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    if pooling == "flatten":
        return tokens.flatten(1)
    reg = tokens[:, :num_registers].mean(1) if num_registers else None
    mean = tokens[:, num_registers:].mean(1)
    if pooling == "mean" or reg is None:
        return mean if pooling != "concat" else torch.cat([mean, mean], dim=1)
    return reg if pooling == "reg" else torch.cat([reg, mean], dim=1)

"""The batch contract of the token methods: inputs for a modality's tokenizer, checked tokens.

:class:`~selfsup.methods.TokenContrastive` and :class:`~selfsup.methods.Data2Vec` read any
modality through its plugin's tokenizer; what they accept from a batch and from a tokenizer is
stated once here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.experiment.method import MalformedBatchError

__all__ = ["token_inputs", "tokenize"]


def token_inputs(batch: Any, owner: str) -> Any:
    """What the tokenizer reads: an ``(inputs, labels)`` pair's inputs, a dict without its
    ``"y"`` (labels never reach the model), or the batch itself.

    Raises:
        MalformedBatchError: an empty pair.

    Examples:
        >>> token_inputs({"x": 1, "y": 2}, "Data2Vec")
        {'x': 1}
    """
    if isinstance(batch, list | tuple):
        if not batch:
            raise MalformedBatchError(f"{owner} got an empty batch.")
        return batch[0]
    if isinstance(batch, Mapping):
        return {k: v for k, v in batch.items() if k != "y"}
    return batch


def tokenize(tokenizer: nn.Module, inputs: Any, dim: int) -> tuple[Tensor, Tensor | None]:
    """``(tokens, padding_mask)`` from a tokenizer that returns tokens or that pair, checked.

    Shapes:
        -> tokens ``(B, L, dim)``; padding_mask ``(B, L)`` bool (True = padding) or None.

    Raises:
        MalformedBatchError: tokens that are not ``(B, L, dim)`` or a malformed padding mask.

    Examples:
        >>> tokens, padding = tokenize(nn.Identity(), torch.zeros(2, 3, 4), 4)
        >>> tuple(tokens.shape), padding
        ((2, 3, 4), None)
    """
    out = tokenizer(inputs)
    tokens, padding = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
    if not isinstance(tokens, Tensor) or tokens.dim() != 3 or tokens.shape[-1] != dim:
        raise MalformedBatchError(
            f"the tokenizer must return (B, L, {dim}) tokens (or tokens and a padding "
            f"mask), got {getattr(tokens, 'shape', type(tokens).__name__)}."
        )
    if padding is not None and (
        not isinstance(padding, Tensor)
        or padding.dtype != torch.bool
        or padding.shape != tokens.shape[:2]
    ):
        raise MalformedBatchError(
            f"the tokenizer's padding mask must be bool {tuple(tokens.shape[:2])}, got "
            f"{getattr(padding, 'dtype', type(padding).__name__)} "
            f"{tuple(getattr(padding, 'shape', ()))}."
        )
    return tokens, padding

"""Pooling of token sequences with padding: the one ``masked_mean`` every plugin uses.

A row that is all padding raises: averaging nothing has no right answer, and a silent zero (or
NaN) vector would flow into a probe or a loss as if it were an embedding. Audio clips, tables
and token sets pad their batches the same way (``True`` = padding, PyTorch's
``key_padding_mask``), so the rule is shared.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["masked_mean"]


def masked_mean(tokens: Tensor, padding_mask: Tensor | None = None) -> Tensor:
    """Mean over the tokens that are not padding.

    Args:
        tokens: ``(B, L, D)``.
        padding_mask: ``(B, L)`` bool, ``True`` marks **padding** (PyTorch's
            ``key_padding_mask`` convention); ``None`` averages every token.

    Returns:
        ``(B, D)``. A row with no valid token raises instead of returning NaN.

    Raises:
        ValueError: On a mask of the wrong shape or a row that is all padding.

    Examples:
        >>> tokens = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> masked_mean(tokens, torch.tensor([[False, False, True]]))
        tensor([[2.]])
    """
    if padding_mask is None:
        return tokens.mean(dim=1)
    if padding_mask.shape != tokens.shape[:2]:
        raise ValueError(
            f"padding_mask must have shape (B, L) = {tuple(tokens.shape[:2])}, got "
            f"{tuple(padding_mask.shape)}."
        )
    valid = (~padding_mask).to(tokens.dtype).unsqueeze(-1)
    count = valid.sum(dim=1)
    if bool((count == 0).any()):
        rows = torch.nonzero(count.squeeze(-1) == 0).flatten().tolist()
        raise ValueError(
            f"rows {rows[:8]} of padding_mask are all padding: nothing to pool; drop empty "
            "sequences from the batch or keep at least one real token per row."
        )
    return (tokens * valid).sum(dim=1) / count

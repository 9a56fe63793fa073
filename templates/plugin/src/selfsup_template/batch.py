"""The batch contract of this plugin: what its methods accept, validated in one place.

Every method calls :func:`parse_template_batch` first, so a malformed batch fails with the same
message whichever method meets it. Replace the checks with your domain's (images, graphs,
waveforms...); keep the rule: say what is wrong and how to fix it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from selfsup.checks import batch_tensor

__all__ = ["parse_template_batch"]


def parse_template_batch(batch: Any, num_features: int, owner: str, min_rows: int = 1) -> Tensor:
    """The ``(B, num_features)`` float vectors of a batch, or an ``(x, y)`` pair's ``x``.

    Raises:
        selfsup.checks.MalformedBatchError: another structure, shape or dtype, NaN/inf values or
            fewer than ``min_rows`` rows (the message says which and how to fix it).

    Examples:
        >>> import torch
        >>> parse_template_batch((torch.ones(4, 3), torch.zeros(4)), 3, "Method").shape
        torch.Size([4, 3])
    """
    hint = "set num_features to the feature count."
    return batch_tensor(batch, owner, (None, num_features), min_rows=min_rows, hint=hint)

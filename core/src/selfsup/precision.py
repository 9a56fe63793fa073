"""Mixed precision: losses and data augmentation run outside autocast, in float32 or wider.

Under ``torch.autocast`` (Lightning's ``precision="bf16-mixed"`` / ``"16-mixed"``) every
matmul is cast to the low dtype, including the ``N x N`` similarity logits of InfoNCE and the
``D x D`` cross-correlation of Barlow Twins — measured on CPU with bf16: the Barlow Twins loss
of ``(64, 32)`` float32 embeddings came back in bfloat16, 0.075 away from the float64 value,
and NT-Xent's logits lost three digits. Every loss in :mod:`selfsup.losses` therefore runs with
autocast disabled (:func:`autocast_off`) and computes in :func:`accumulation_dtype` of its
inputs: float32 for half/bfloat16 embeddings, the input dtype otherwise. The encoders keep the
speed of the low dtype; the loss sees the embeddings exactly as the network produced them.
On-device augmentations (blur kernels are convolutions) use :func:`autocast_off` too: the
views are data, not activations.

The similarity losses (``info_nce``, ``nt_xent``, ``dcl``) keep half inputs half inside
their tiled matmuls (the tensor-core path, float32 accumulation, logits promoted per block);
the others promote their inputs to float32 first (their matmuls are ``D x D`` or per-row).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import torch
from torch import Tensor

__all__ = ["accumulation_dtype", "autocast_off", "promote"]

P = ParamSpec("P")
R = TypeVar("R")

_DEVICE_TYPES = ("cpu", "cuda", "xpu", "mps")


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half / bfloat16, the dtype itself for float32 and float64."""
    return torch.promote_types(dtype, torch.float32)


def promote(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors in their :func:`accumulation_dtype` (no copy when already there)."""
    return tuple(t.to(accumulation_dtype(t.dtype)) for t in tensors)


def _enabled_autocast() -> list[str]:
    enabled = []
    for device_type in _DEVICE_TYPES:
        try:
            if torch.is_autocast_enabled(device_type):
                enabled.append(device_type)
        except (RuntimeError, TypeError):  # device type unknown to this torch build
            continue
    return enabled


def autocast_off(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with autocast disabled on every device type where it is enabled."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = _enabled_autocast()
        if not enabled:
            return fn(*args, **kwargs)
        with contextlib.ExitStack() as stack:
            for device_type in enabled:
                stack.enter_context(torch.autocast(device_type, enabled=False))
            return fn(*args, **kwargs)

    return wrapper

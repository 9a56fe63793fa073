"""Matryoshka representation learning: one embedding loss applied to nested prefixes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import Tensor, nn
from torch.nn import functional as F

from selfsup.precision import autocast_off

__all__ = ["MatryoshkaLoss", "check_matryoshka_dims", "matryoshka", "matryoshka_prefix"]


def _check_dims_weights(
    dims: Sequence[int], weights: Sequence[float] | None
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Validate ``dims`` (positive, strictly ascending ints) and ``weights``; return tuples."""
    if isinstance(dims, (int, str)) or not isinstance(dims, Sequence) or len(dims) == 0:
        raise ValueError(
            f"dims must be a non-empty sequence of ints, e.g. (64, 128, 256), got {dims!r}."
        )
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ValueError(f"dims must hold positive ints, got {d!r} in {tuple(dims)}.")
    if any(b <= a for a, b in zip(dims, dims[1:], strict=False)):
        raise ValueError(
            f"dims must be strictly ascending (nested prefixes), got {tuple(dims)}; "
            f"use {tuple(sorted(set(dims)))}."
        )
    if weights is None:
        return tuple(dims), (1.0,) * len(dims)
    if len(weights) != len(dims):
        raise ValueError(
            f"weights must have one entry per dim: {len(dims)} dims {tuple(dims)} but "
            f"{len(weights)} weights."
        )
    for w in weights:
        if not (math.isfinite(float(w)) and float(w) >= 0):
            raise ValueError(f"weights must be finite and >= 0, got {tuple(weights)}.")
    return tuple(dims), tuple(float(w) for w in weights)


def check_matryoshka_dims(dims: Sequence[int] | None, size: int) -> tuple[int, ...] | None:
    """Validate a model's ``matryoshka_dims`` against its embedding size, at construction.

    Returns the dims as a tuple (None stays None: the switch is off), so a model fails when it
    is built, not at its first step.

    Raises:
        ValueError: dims not positive and strictly ascending, or the largest over ``size``.

    Examples:
        >>> check_matryoshka_dims([8, 16, 64], 64)
        (8, 16, 64)
    """
    if dims is None:
        return None
    checked, _ = _check_dims_weights(dims, None)
    if checked[-1] > size:
        raise ValueError(
            f"matryoshka_dims {checked} exceed the embedding size {size}; every prefix must be "
            f"<= {size}."
        )
    return checked


def matryoshka_prefix(embeddings: Tensor, dim: int) -> Tensor:
    """The first ``dim`` features of each embedding, L2-normalised: how a Matryoshka model is
    used at a smaller size (cosine scores of the prefix, as it was trained).

    Shapes:
        embeddings ``(..., D)`` -> ``(..., dim)``.

    Raises:
        ValueError: ``dim`` not in ``[1, D]``.

    Examples:
        >>> import torch
        >>> matryoshka_prefix(torch.randn(3, 64), 16).norm(dim=-1)
        tensor([1.0000, 1.0000, 1.0000])
    """
    if not 1 <= dim <= embeddings.shape[-1]:
        raise ValueError(
            f"prefix size must be in [1, {embeddings.shape[-1]}] (the embedding size), got {dim}."
        )
    return F.normalize(embeddings[..., :dim], dim=-1)


@autocast_off
def matryoshka(
    loss_fn: Callable[..., Tensor],
    *embeddings: Tensor,
    dims: Sequence[int],
    weights: Sequence[float] | None = None,
) -> Tensor:
    """Matryoshka loss (Kusupati et al., NeurIPS 2022, arXiv 2205.13147, Eq. 1).

    .. math::

        L = \\sum_{m} c_m \\, \\mathcal{L}\\left(z^{(1)}_{[:d_m]}, \\ldots, z^{(k)}_{[:d_m]}\\right)

    Applies ``loss_fn`` to the first ``d_m`` features of every embedding for each ``d_m`` in
    ``dims`` and returns the weighted **sum**. Weights default to 1 each and are *not*
    normalised (the paper's ``c_m = 1``, sentence-transformers' ``MatryoshkaLoss``), so the
    loss scale grows with ``len(dims)``; pass ``weights=[1 / len(dims)] * len(dims)`` for a
    mean. Slicing happens on the raw embeddings, before any normalisation: losses that
    L2-normalise (:func:`selfsup.losses.info_nce`, :func:`selfsup.losses.nt_xent`, ...)
    normalise each prefix on its own, as MRL intends.

    Args:
        loss_fn: any embedding loss taking the embeddings positionally, e.g.
            :func:`selfsup.losses.nt_xent` or a loss module; bind other arguments with
            :func:`functools.partial`.
        *embeddings: the tensors to slice along their last dimension (e.g. ``z1, z2``).
        dims: strictly ascending prefix sizes, each ``<= D`` (e.g. ``(64, 128, 256, 768)``).
        weights: non-negative weight per dim (default 1 each).

    Shapes:
        embeddings: ``(..., D)`` each -> scalar.

    Raises:
        ValueError: no embedding, non-tensor embedding, ``dims`` empty / not ascending /
            non-positive / larger than an embedding's ``D``, or bad ``weights``.

    Distributed:
        Whatever ``loss_fn`` does, once per prefix (a gathering loss gathers every prefix;
        gathering the full embedding once and slicing would need ``loss_fn`` to accept
        pre-gathered tensors).
    """
    dims_t, weights_t = _check_dims_weights(dims, weights)
    if not embeddings:
        raise ValueError("matryoshka needs at least one embedding tensor after loss_fn.")
    for i, e in enumerate(embeddings):
        if not isinstance(e, Tensor) or e.dim() == 0:
            got = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
            raise ValueError(f"embedding {i} must be a tensor of shape (..., D), got {got}.")
        if e.shape[-1] < dims_t[-1]:
            raise ValueError(
                f"dims {dims_t} exceed embedding {i}'s feature size D = {e.shape[-1]}; "
                f"every dim must be <= D."
            )
    total: Tensor | None = None
    for d, w in zip(dims_t, weights_t, strict=True):
        if w == 0.0:
            continue
        term = w * loss_fn(*(e[..., :d] for e in embeddings))
        total = term if total is None else total + term
    if total is None:  # every weight is zero
        return 0.0 * loss_fn(*(e[..., : dims_t[0]] for e in embeddings))
    return total


class MatryoshkaLoss(nn.Module):
    """Wrap an embedding loss module so it is applied to nested prefixes (:func:`matryoshka`).

    Args:
        loss_module: the wrapped loss (e.g. ``NTXentLoss()``); registered as a submodule.
        dims: strictly ascending prefix sizes.
        weights: non-negative weight per dim (default 1 each, summed, not normalised).

    Shapes:
        forward(``*embeddings`` each ``(..., D)``) -> scalar.

    Distributed:
        As the wrapped loss, once per prefix.
    """

    def __init__(
        self,
        loss_module: Callable[..., Tensor],
        dims: Sequence[int],
        weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not callable(loss_module):
            raise ValueError(f"loss_module must be callable, got {type(loss_module).__name__}.")
        self.dims, self.weights = _check_dims_weights(dims, weights)
        self.loss_module = loss_module

    def forward(self, *embeddings: Tensor) -> Tensor:
        return matryoshka(self.loss_module, *embeddings, dims=self.dims, weights=self.weights)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, weights={self.weights}"

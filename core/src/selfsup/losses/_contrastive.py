"""Pieces shared by the softmax contrastive losses (:mod:`.info_nce`, :mod:`.nt_xent`,
:mod:`.dcl`): the argument checks and the two-view log-sum-exp.

Private to :mod:`selfsup.losses`: the names have no underscore because the loss modules import
them; they are not part of the public API.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from selfsup import distributed as sdist
from selfsup.checks import check_two_views
from selfsup.kernels.lse import check_chunk_size, similarity_logsumexp

__all__ = ["MIN_TEMPERATURE", "check_temperature", "check_views", "two_view_lse"]

#: The smallest temperature the contrastive losses accept: logits are similarities / tau, and
#: below this their gradients (scaled by 1 / tau) overflow half precision; CLIP clamps its
#: learned temperature at 0.01.
MIN_TEMPERATURE = 1e-3


def check_temperature(temperature: float | Tensor, chunk_size: int | None) -> None:
    """Require a float or one-element tensor ``temperature`` >= :data:`MIN_TEMPERATURE` (finite)
    and a valid ``chunk_size`` (None or a positive int)."""
    if isinstance(temperature, Tensor) and temperature.numel() != 1:
        raise ValueError(
            f"temperature must be a float or a one-element tensor, got shape "
            f"{tuple(temperature.shape)}."
        )
    value = float(temperature)
    if not math.isfinite(value) or value < MIN_TEMPERATURE:
        raise ValueError(
            f"temperature must be finite and >= {MIN_TEMPERATURE} (logits are similarities / "
            f"temperature), got {value}; typical values are 0.05-0.5."
        )
    check_chunk_size(chunk_size)


def check_views(z1: Tensor, z2: Tensor, gathering: bool) -> None:
    """Validate two ``(N, D)`` views; a two-view contrastive loss needs a global N >= 2."""
    check_two_views(
        z1,
        z2,
        gathering=gathering,
        need="this loss needs at least 2: with one sample there is no negative "
        "(check drop_last / the batch size).",
    )


def two_view_lse(
    z1: Tensor,
    z2: Tensor,
    scale: float | Tensor,
    *,
    decoupled: bool,
    gathering: bool,
    chunk_size: int | None,
) -> Tensor:
    """Row log-sum-exp of the 2N anchors ``[z1; z2]`` against all (gathered) ``2W·N`` rows.

    Anchor ``a`` excludes itself and, with ``decoupled``, its positive (the other view).
    Column layout: ``[gather(z1); gather(z2)]``, so local sample ``i`` of view 1 sits at
    ``rank·N + i`` and of view 2 at ``W·N + rank·N + i``. Returns ``(2N,)``. Without gathering
    the rows are the columns and the mask is symmetric, so the log-sum-exp runs with
    ``symmetric=True`` (one backward pass for rows and columns).
    """
    n = z1.shape[0]
    anchors = torch.cat([z1, z2])
    if gathering:
        cols = torch.cat([sdist.gather(z1), sdist.gather(z2)])
        n_global, offset = cols.shape[0] // 2, sdist.rank() * n
    else:
        cols, n_global, offset = anchors, n, 0
    idx = torch.arange(n, device=z1.device) + offset
    self_col = torch.cat([idx, idx + n_global])
    exclude = self_col[:, None]
    if decoupled:
        positive_col = torch.cat([idx + n_global, idx])
        exclude = torch.stack([self_col, positive_col], dim=1)
    return similarity_logsumexp(
        anchors,
        cols,
        scale,
        exclude=exclude,
        symmetric=cols is anchors,
        chunk_size=chunk_size,
    )

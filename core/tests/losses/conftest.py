"""Shared fixture for the loss tests: a simulated second rank."""

from __future__ import annotations

import pytest
import torch

import selfsup.distributed as sdist


def other_rank(x: torch.Tensor) -> torch.Tensor:
    """The tensor 'rank 0' holds in the simulated 2-rank run: rows reversed, features rolled.

    A row/feature permutation keeps row norms and row-wise dot products, so gathering
    normalised rows equals normalising gathered rows, as with a real gather.
    """
    x = x.detach().flip(0)
    return x.roll(1, dims=1) if x.dim() > 1 else x


@pytest.fixture
def fake_rank1(monkeypatch: pytest.MonkeyPatch):
    """Pretend to be rank 1 of 2; ``gather`` prepends :func:`other_rank` of its input.

    Checks gather layouts and positive offsets (values only: the fake has no real backward;
    gradient equivalence needs a real process group).
    """
    monkeypatch.setattr(sdist, "is_distributed", lambda: True)
    monkeypatch.setattr(sdist, "world_size", lambda: 2)
    monkeypatch.setattr(sdist, "rank", lambda: 1)
    monkeypatch.setattr(sdist, "gather", lambda x: torch.cat([other_rank(x), x]))
    monkeypatch.setattr(sdist, "gather_no_grad", lambda x: torch.cat([other_rank(x), x.detach()]))
    return other_rank

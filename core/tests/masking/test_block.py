"""Tests for selfsup.masking.block (BEiT blockwise masking with an exact count)."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.masking import block_mask


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    ("grid", "ratio", "kwargs"),
    [
        ((14, 14), 0.4, {}),
        ((14, 14), 0.75, {}),
        ((7, 5), 0.3, {}),
        ((8, 8), 0.1, {"min_block": 50}),  # proposals too large: the top-up fills the count
        ((6, 9), 0.5, {"max_block": 6}),
        ((4, 4), 0.0, {}),
        ((4, 4), 1.0, {}),
        ((1, 1), 1.0, {}),
    ],
)
def test_exact_count_shape_dtype(grid: tuple[int, int], ratio: float, kwargs: dict) -> None:
    batch = 16
    m = block_mask(batch, grid, ratio, generator=_gen(0), **kwargs)
    assert m.shape == (batch, grid[0] * grid[1]) and m.dtype == torch.bool
    assert m.sum(1).tolist() == [math.floor(ratio * grid[0] * grid[1])] * batch


def test_single_square_block_and_edges_reachable() -> None:
    # area ~ U(16, 16) and aspect 1 -> exactly one 4x4 block on an 8x8 grid.
    m = block_mask(200, (8, 8), 0.25, min_block=16, aspect=(1.0, 1.0), generator=_gen(1))
    grids = m.view(200, 8, 8)
    last_row = last_col = first_row = False
    for g in grids:
        rows = g.any(1).nonzero().flatten().tolist()
        cols = g.any(0).nonzero().flatten().tolist()
        assert len(rows) == len(cols) == 4 and rows == list(range(rows[0], rows[0] + 4))
        assert cols == list(range(cols[0], cols[0] + 4))
        assert bool(g[rows[0] : rows[0] + 4, cols[0] : cols[0] + 4].all())
        last_row |= rows[-1] == 7
        last_col |= cols[-1] == 7
        first_row |= rows[0] == 0
    assert last_row and last_col and first_row


def test_masks_are_blockwise_not_scattered() -> None:
    # Most masked tokens of a BEiT mask have a masked 4-neighbour; uniform masking at 40 % would
    # give ~0.87 only by chance on 14x14, blocks give > 0.95.
    m = block_mask(32, (14, 14), 0.4, generator=_gen(2)).view(32, 14, 14)
    pad = torch.nn.functional.pad(m.float(), (1, 1, 1, 1))
    neighbours = pad[:, :-2, 1:-1] + pad[:, 2:, 1:-1] + pad[:, 1:-1, :-2] + pad[:, 1:-1, 2:]
    assert float((neighbours[m] > 0).float().mean()) > 0.95


def test_determinism_and_seeds_differ() -> None:
    a = block_mask(8, (14, 14), 0.4, generator=_gen(5))
    assert torch.equal(a, block_mask(8, (14, 14), 0.4, generator=_gen(5)))
    assert not torch.equal(a, block_mask(8, (14, 14), 0.4, generator=_gen(6)))
    torch.manual_seed(3)
    b = block_mask(8, (14, 14), 0.4)
    torch.manual_seed(3)
    assert torch.equal(b, block_mask(8, (14, 14), 0.4))


def test_device_argument() -> None:
    assert block_mask(2, (4, 4), 0.5, device="meta").device.type == "meta"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"grid": (0, 4)}, "grid"),
        ({"grid": 14}, "grid"),
        ({"mask_ratio": 1.2}, "mask_ratio"),
        ({"min_block": 0}, "min_block"),
        ({"min_block": 8, "max_block": 4}, "max_block"),
        ({"aspect": (0.0, 2.0)}, "aspect"),
        ({"aspect": (3.0, 2.0)}, "aspect"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"batch_size": 2, "grid": (4, 4), "mask_ratio": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        block_mask(**args)

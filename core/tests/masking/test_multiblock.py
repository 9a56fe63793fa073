"""Tests for selfsup.masking.multiblock (I-JEPA context/target blocks without truncation)."""

from __future__ import annotations

import pytest
import torch

from selfsup.masking import MultiBlockMask, multiblock_mask


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _valid_sets(m: MultiBlockMask, b: int) -> tuple[set[int], list[set[int]]]:
    ctx = set(m.context_idx[b][m.context_valid[b]].tolist())
    tgts = [
        set(m.target_idx[b, t][m.target_valid[b, t]].tolist()) for t in range(m.target_idx.shape[1])
    ]
    return ctx, tgts


def _is_rectangle(cells: set[int], width: int) -> tuple[int, int, int, int] | None:
    rows = [i // width for i in cells]
    cols = [i % width for i in cells]
    r0, r1, c0, c1 = min(rows), max(rows), min(cols), max(cols)
    full = {r * width + c for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
    return (r0, r1, c0, c1) if full == cells else None


def test_shapes_dtypes_and_validity() -> None:
    m = multiblock_mask(8, (14, 14), generator=_gen(0))
    assert isinstance(m, MultiBlockMask) and m.num_tokens == 196
    assert m.context_idx.dtype == m.target_idx.dtype == torch.long
    assert m.context_valid.dtype == m.target_valid.dtype == torch.bool
    assert m.context_idx.shape == m.context_valid.shape and m.context_idx.shape[0] == 8
    assert m.target_idx.shape == m.target_valid.shape and m.target_idx.shape[:2] == (8, 4)
    assert int(m.context_idx.min()) >= 0 and int(m.context_idx.max()) < 196
    assert int(m.target_idx.min()) >= 0 and int(m.target_idx.max()) < 196
    # padding: invalid entries hold 0, valid entries are ascending and unique
    assert not m.context_idx[~m.context_valid].any() and not m.target_idx[~m.target_valid].any()
    for b in range(8):
        ctx = m.context_idx[b][m.context_valid[b]].tolist()
        assert ctx == sorted(set(ctx)) and len(ctx) >= 4
    assert torch.equal(m.context_mask.sum(1), m.context_valid.sum(1))
    assert torch.equal(m.target_mask.sum(2), m.target_valid.sum(2))


def test_targets_are_shared_size_rectangles_disjoint_from_context() -> None:
    m = multiblock_mask(32, (14, 14), generator=_gen(1))
    sizes = set()
    for b in range(32):
        ctx, tgts = _valid_sets(m, b)
        for t in tgts:
            box = _is_rectangle(t, 14)
            assert box is not None
            sizes.add((box[1] - box[0] + 1, box[3] - box[2] + 1))
            assert not (ctx & t)  # allow_overlap=False
    assert len(sizes) == 1  # one target size per batch, as I-JEPA
    assert bool(m.target_valid.all())


def test_no_truncation_each_sample_keeps_its_context() -> None:
    m = multiblock_mask(32, (14, 14), generator=_gen(2))
    lengths = m.context_valid.sum(1)
    assert m.context_idx.shape[1] == int(lengths.max())
    assert len(set(lengths.tolist())) > 1  # sizes differ: nothing was cut to the batch minimum
    for b in range(32):
        # context = grid tokens of the context block minus the targets; its size is what is kept
        ctx, tgts = _valid_sets(m, b)
        assert len(ctx) == int(lengths[b])


def test_blocks_reach_last_row_and_column() -> None:
    m = multiblock_mask(64, (6, 6), target_scale=(0.2, 0.3), generator=_gen(3))
    tm = m.target_mask.view(64, 4, 6, 6)
    assert bool(tm[..., -1, :].any()) and bool(tm[..., :, -1].any())
    assert bool(tm[..., 0, :].any()) and bool(tm[..., :, 0].any())
    # a block as tall as the grid is allowed (the reference forbids h == H)
    full = multiblock_mask(
        4, (5, 5), target_scale=(1.0, 1.0), allow_overlap=True, generator=_gen(0)
    )
    assert bool(full.target_valid.all()) and full.target_idx.shape[2] == 25


def test_allow_overlap_gives_full_context_rectangle() -> None:
    m = multiblock_mask(16, (14, 14), allow_overlap=True, generator=_gen(4))
    lengths = set(m.context_valid.sum(1).tolist())
    assert len(lengths) == 1  # shared context block size, nothing removed
    for b in range(16):
        ctx, _ = _valid_sets(m, b)
        assert _is_rectangle(ctx, 14) is not None


def test_fallback_guarantees_context_and_drops_covering_targets() -> None:
    # four targets covering the whole grid: targets are dropped until the context fits
    m = multiblock_mask(3, (4, 4), target_scale=(1.0, 1.0), min_context=4, generator=_gen(5))
    assert bool(m.context_valid.all()) and m.context_idx.shape[1] == 16
    assert not bool(m.target_valid.any())
    # half-grid targets: context always >= min_context and disjoint from every valid target
    m = multiblock_mask(64, (4, 4), target_scale=(0.5, 0.5), min_context=3, generator=_gen(6))
    for b in range(64):
        ctx, tgts = _valid_sets(m, b)
        assert len(ctx) >= 3 and all(not (ctx & t) for t in tgts)


def test_per_sample_size_pads_targets() -> None:
    m = multiblock_mask(16, (14, 14), per_sample_size=True, generator=_gen(7))
    lengths = m.target_valid.sum(2)
    assert len(set(lengths.flatten().tolist())) > 1
    assert m.target_idx.shape[2] == int(lengths.max())
    for b in range(16):
        ctx, tgts = _valid_sets(m, b)
        assert all(_is_rectangle(t, 14) is not None and not (ctx & t) for t in tgts)


def test_determinism_seeds_and_device() -> None:
    a = multiblock_mask(8, (14, 14), generator=_gen(8))
    b = multiblock_mask(8, (14, 14), generator=_gen(8))
    c = multiblock_mask(8, (14, 14), generator=_gen(9))
    assert torch.equal(a.context_idx, b.context_idx) and torch.equal(a.target_idx, b.target_idx)
    assert not torch.equal(a.target_mask, c.target_mask)
    assert multiblock_mask(2, (4, 4), device="meta").context_idx.device.type == "meta"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"grid": (14,)}, "grid"),
        ({"num_targets": 0}, "num_targets"),
        ({"target_scale": (0.0, 0.2)}, "target_scale"),
        ({"context_scale": (0.9, 1.2)}, "context_scale"),
        ({"target_aspect": (-1.0, 1.0)}, "target_aspect"),
        ({"min_context": 17}, "min_context"),
        ({"max_tries": 0}, "max_tries"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"batch_size": 2, "grid": (4, 4)} | kwargs
    with pytest.raises(ValueError, match=match):
        multiblock_mask(**args)

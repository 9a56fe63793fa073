"""padded_token_mask: exact per-sample counts over real tokens; padding never kept or masked."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.masking import padded_token_mask, random_token_mask


def _padding(lengths: list[int], total: int) -> torch.Tensor:
    return torch.arange(total)[None, :] >= torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75, 0.9])
def test_counts_positions_and_order(ratio: float) -> None:
    lengths = [12, 7, 1, 4]
    pad = _padding(lengths, 12)
    m = padded_token_mask(pad, ratio, generator=torch.Generator().manual_seed(0))
    for b, n in enumerate(lengths):
        masked = math.floor(n * ratio + 1e-9)
        keep = n - masked
        assert int(m.mask[b].sum()) == masked
        assert not bool((m.mask[b] & pad[b]).any())
        visible = m.keep_idx[b][~m.keep_padding[b]]
        assert visible.numel() == keep
        assert torch.equal(visible, visible.sort().values)  # time order
        assert not bool(pad[b, visible].any()) and not bool(m.mask[b, visible].any())
        assert int(m.keep_padding[b].sum()) == m.keep_idx.shape[1] - keep
    assert m.keep_idx.shape[1] == max(n - math.floor(n * ratio + 1e-9) for n in lengths)


def test_without_padding_it_is_the_unpadded_mask() -> None:
    pad = torch.zeros(3, 10, dtype=torch.bool)
    m = padded_token_mask(pad, 0.6, generator=torch.Generator().manual_seed(4))
    ref = random_token_mask(3, 10, 0.6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(m.keep_idx, ref.keep_idx) and torch.equal(m.mask, ref.mask)
    assert not bool(m.keep_padding.any())


def test_every_real_token_is_kept_somewhere_over_many_draws() -> None:
    pad = _padding([5, 3], 5)
    seen = torch.zeros(2, 5, dtype=torch.bool)
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        m = padded_token_mask(pad, 0.5, generator=gen)
        for b in range(2):
            seen[b, m.keep_idx[b][~m.keep_padding[b]]] = True
    assert torch.equal(seen, ~pad)


@pytest.mark.parametrize(
    ("pad", "ratio", "match"),
    [
        (torch.zeros(2, 4, dtype=torch.bool), 1.0, "mask_ratio"),
        (torch.zeros(2, 4), 0.5, "bool"),
        (torch.ones(2, 4, dtype=torch.bool), 0.5, "no real"),
    ],
)
def test_bad_input(pad: torch.Tensor, ratio: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        padded_token_mask(pad, ratio)

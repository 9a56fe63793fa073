"""Tests for selfsup.masking.token (random_token_mask, gather_tokens, restore_tokens)."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.masking import TokenMask, gather_tokens, random_token_mask, restore_tokens


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    ("num_tokens", "ratio", "prefix"),
    [
        (196, 0.75, 0),
        (197, 0.75, 1),
        (10, 0.7, 0),
        (10, 0.75, 0),
        (7, 0.0, 0),
        (7, 1.0, 2),
        (5, 0.5, 5),
    ],
)
def test_exact_counts_shapes_and_partition(num_tokens: int, ratio: float, prefix: int) -> None:
    batch = 6
    m = random_token_mask(batch, num_tokens, ratio, generator=_gen(0), num_prefix_keep=prefix)
    assert isinstance(m, TokenMask)
    n_mask = math.floor(ratio * (num_tokens - prefix) + 1e-9)
    assert m.keep_idx.shape == (batch, num_tokens - n_mask)
    assert m.mask_idx.shape == (batch, n_mask)
    assert m.restore_idx.shape == m.mask.shape == (batch, num_tokens)
    assert m.keep_idx.dtype == m.mask_idx.dtype == m.restore_idx.dtype == torch.long
    assert m.mask.dtype == torch.bool
    assert m.mask.sum(1).tolist() == [n_mask] * batch  # exact count in every sample
    assert (m.num_keep, m.num_mask) == (num_tokens - n_mask, n_mask)
    for b in range(batch):
        keep, masked = m.keep_idx[b].tolist(), m.mask_idx[b].tolist()
        assert keep == sorted(keep) and masked == sorted(masked)
        assert sorted(keep + masked) == list(range(num_tokens))
        assert keep[:prefix] == list(range(prefix))  # prefix tokens always kept
        assert all(m.mask[b, i] for i in masked) and not any(m.mask[b, i] for i in keep)


def test_counting_rule_is_floor_without_float_error() -> None:
    # int(10 * (1 - 0.7)) == 2 (MAE's keep count) would mask 8; the documented rule masks 7.
    assert random_token_mask(1, 10, 0.7).num_mask == 7
    assert random_token_mask(1, 196, 0.75).num_keep == 49  # identical to MAE here


def test_restore_is_inverse_of_gather() -> None:
    batch, num_tokens, dim = 3, 12, 5
    x = torch.randn(batch, num_tokens, dim, dtype=torch.float64)
    m = random_token_mask(batch, num_tokens, 0.5, generator=_gen(1), num_prefix_keep=1)
    visible, hidden = gather_tokens(x, m.keep_idx), gather_tokens(x, m.mask_idx)
    for b in range(batch):  # explicit loop reference for the gather
        for k, i in enumerate(m.keep_idx[b].tolist()):
            assert torch.equal(visible[b, k], x[b, i])
    restored = restore_tokens(torch.cat([visible, hidden], dim=1), m.restore_idx)
    assert torch.equal(restored, x)
    # restore_idx is the argsort inverse of the shuffle (MAE's ids_restore)
    shuffle = torch.cat([m.keep_idx, m.mask_idx], 1)
    assert torch.equal(m.restore_idx, shuffle.argsort(dim=1))


def test_gather_tokens_any_trailing_shape_and_gradient() -> None:
    x = torch.randn(2, 6, 3, 4, requires_grad=True)
    idx = torch.tensor([[5, 0], [1, 1]])
    out = gather_tokens(x, idx)
    assert out.shape == (2, 2, 3, 4)
    (grad,) = torch.autograd.grad(out.sum(), x)
    expected = torch.zeros(2, 6)
    expected[0, 5] = expected[0, 0] = 1
    expected[1, 1] = 2
    assert torch.equal(grad.sum((2, 3)) / 12, expected)
    assert gather_tokens(torch.arange(12.0).view(2, 6), idx).tolist() == [[5.0, 0.0], [7.0, 7.0]]


def test_determinism_and_seeds_differ() -> None:
    a = random_token_mask(4, 50, 0.6, generator=_gen(3))
    b = random_token_mask(4, 50, 0.6, generator=_gen(3))
    c = random_token_mask(4, 50, 0.6, generator=_gen(4))
    assert torch.equal(a.mask, b.mask) and torch.equal(a.restore_idx, b.restore_idx)
    assert not torch.equal(a.mask, c.mask)
    torch.manual_seed(0)
    d = random_token_mask(4, 50, 0.6)
    torch.manual_seed(0)
    assert torch.equal(d.mask, random_token_mask(4, 50, 0.6).mask)


def test_no_host_reads_on_meta_device() -> None:
    # meta tensors hold no data: any .item()/nonzero/data-dependent shape would fail here.
    m = random_token_mask(4, 20, 0.5, device="meta", num_prefix_keep=1)
    assert m.mask.device.type == "meta" and m.keep_idx.shape == (4, 11)
    x = torch.empty(4, 20, 8, device="meta")
    assert restore_tokens(x, m.restore_idx).shape == (4, 20, 8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_tokens": 0}, "num_tokens"),
        ({"mask_ratio": 1.5}, "mask_ratio"),
        ({"mask_ratio": -0.1}, "mask_ratio"),
        ({"num_prefix_keep": 11}, "num_prefix_keep"),
        ({"num_prefix_keep": -1}, "num_prefix_keep"),
        ({"device": "cuda", "generator": torch.Generator()}, "generator lives on cpu"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"batch_size": 2, "num_tokens": 10, "mask_ratio": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        random_token_mask(**args)


def test_bad_gather_and_restore_inputs() -> None:
    x = torch.randn(2, 6, 3)
    with pytest.raises(ValueError, match="idx must have shape"):
        gather_tokens(x, torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="torch.long"):
        gather_tokens(x, torch.zeros(2, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match="restore_idx covers"):
        restore_tokens(x, torch.zeros(2, 5, dtype=torch.long))

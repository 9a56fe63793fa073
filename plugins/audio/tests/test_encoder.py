"""Patches, patch padding masks, positions and the padded transformer encoder."""

from __future__ import annotations

import pytest
import torch

from selfsup.masking import padded_token_mask
from selfsup_audio.encoders import AudioEncoder, patch_padding_mask, patchify, sincos_positions


def test_patchify_is_time_major_blocks() -> None:
    x = torch.arange(2 * 6 * 8, dtype=torch.float64).view(2, 6, 8)
    p = patchify(x, (2, 4))  # T' = 3 time patches, F' = 2 frequency patches
    assert p.shape == (2, 6, 8)
    for b in range(2):
        for t in range(3):
            for f in range(2):
                block = x[b, 2 * t : 2 * t + 2, 4 * f : 4 * f + 4].reshape(-1)
                torch.testing.assert_close(p[b, t * 2 + f], block)


def test_patchify_pads_time_and_rejects_bad_bins() -> None:
    assert patchify(torch.zeros(1, 5, 8), (4, 4)).shape == (1, 4, 16)
    with pytest.raises(ValueError, match="multiple of the frequency patch"):
        patchify(torch.zeros(1, 5, 10), (4, 4))


def test_patch_padding_mask_keeps_partial_patches() -> None:
    frames = torch.tensor([[False] * 5 + [True] * 3, [False] * 8])
    mask = patch_padding_mask(frames, 4, 2)
    assert mask.tolist() == [[False, False, False, False], [False] * 4]
    frames = torch.tensor([[False] * 3 + [True] * 5])
    assert patch_padding_mask(frames, 4, 2).tolist() == [[False, False, True, True]]


def test_sincos_positions_are_distinct_and_bounded() -> None:
    pos = sincos_positions(5, 3, 16, torch.device("cpu"))
    assert pos.shape == (15, 16) and float(pos.abs().max()) <= 1.0
    assert torch.cdist(pos, pos).add(torch.eye(15)).min() > 0


@pytest.mark.parametrize("conv", [False, True])
def test_padding_does_not_change_real_tokens(conv: bool) -> None:
    torch.manual_seed(0)
    enc = AudioEncoder("tiny", patch=(4, 16), conv_positions=conv, conv_kernel=8).eval()
    x = torch.randn(1, 12, 32)
    y, pad = enc(x)
    padded = torch.cat([x, torch.randn(1, 20, 32)], dim=1)
    mask = torch.zeros(1, 32, dtype=torch.bool)
    mask[:, 12:] = True
    y2, pad2 = enc(padded, mask)
    n = y.shape[1]
    assert not bool(pad.any()) and bool(pad2[:, n:].all()) and not bool(pad2[:, :n].any())
    torch.testing.assert_close(y2[:, :n], y, atol=1e-5, rtol=1e-5)


def test_state_dict_carries_the_architecture() -> None:
    enc = AudioEncoder("tiny", depth=1, patch=(8, 16), conv_positions=True, conv_kernel=4)
    again = AudioEncoder.from_state_dict(enc.state_dict())
    assert again.config == enc.config
    x = torch.randn(2, 16, 32)
    torch.testing.assert_close(again(x)[0], enc(x)[0])
    with pytest.raises(ValueError, match="differs"):
        AudioEncoder("tiny").load_state_dict(enc.state_dict())


def test_sizes_and_bad_arguments() -> None:
    base = AudioEncoder("base", patch=(16, 16), conv_dim=512)
    assert base.dim == 768 and len(base.transformer.layers) == 12
    with pytest.raises(ValueError, match="size"):
        AudioEncoder("huge")
    with pytest.raises(ValueError, match="divisible"):
        AudioEncoder("tiny", heads=3)


def test_padded_mask_counts_and_positions() -> None:
    lengths = [10, 4, 1, 7]
    pad = torch.ones(4, 10, dtype=torch.bool)
    for i, n in enumerate(lengths):
        pad[i, :n] = False
    g = torch.Generator().manual_seed(0)
    m = padded_token_mask(pad, 0.75, generator=g)
    for i, n in enumerate(lengths):
        n_mask = int(0.75 * n + 1e-9)
        assert int(m.mask[i].sum()) == n_mask
        assert not bool((m.mask[i] & pad[i]).any())
        keep = m.keep_idx[i][~m.keep_padding[i]]
        assert len(keep) == n - n_mask
        assert keep.tolist() == sorted(keep.tolist())  # time order
        assert not bool(pad[i, keep].any()) and not bool(m.mask[i, keep].any())
        # visible + masked = the real patches, exactly once each
        assert sorted(keep.tolist() + m.mask[i].nonzero().flatten().tolist()) == list(range(n))


def test_padded_mask_without_padding_is_core_mask() -> None:
    from selfsup.masking import random_token_mask

    pad = torch.zeros(3, 8, dtype=torch.bool)
    m = padded_token_mask(pad, 0.75, generator=torch.Generator().manual_seed(5))
    ref = random_token_mask(3, 8, 0.75, generator=torch.Generator().manual_seed(5))
    assert torch.equal(m.keep_idx, ref.keep_idx) and torch.equal(m.mask, ref.mask)
    assert not bool(m.keep_padding.any())
    with pytest.raises(ValueError, match="no real patch"):
        padded_token_mask(torch.ones(1, 4, dtype=torch.bool), 0.75)

"""masked_mean: the float64 loop it must equal, and the all-padding row it refuses."""

from __future__ import annotations

import pytest
import torch

from selfsup.encoders import masked_mean
from selfsup.encoders.transformer import masked_mean as old_path


def test_matches_a_float64_loop_with_gradients() -> None:
    tokens = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    pad = torch.tensor([[False, False, True, True], [False] * 4, [True, False, True, False]])
    got = masked_mean(tokens, pad)
    want = torch.stack([tokens[i][~pad[i]].sum(0) / (~pad[i]).sum() for i in range(3)])
    torch.testing.assert_close(got, want)
    (g,) = torch.autograd.grad(got.sum(), tokens)
    torch.testing.assert_close(
        g, (~pad).double()[..., None].expand_as(g) / (~pad).sum(1)[:, None, None]
    )


def test_refuses_an_all_padding_row_and_a_wrong_mask() -> None:
    tokens = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"rows \[1\] of padding_mask are all padding"):
        masked_mean(tokens, torch.tensor([[False, True, True], [True, True, True]]))
    with pytest.raises(ValueError, match=r"shape \(B, L\)"):
        masked_mean(tokens, torch.zeros(2, 4, dtype=torch.bool))


def test_the_old_import_path_is_the_same_function() -> None:
    assert old_path is masked_mean

"""Tests for selfsup.encoders.jepa_predictor against a float64 loop over target sets."""

from __future__ import annotations

import torch

from selfsup.encoders import JEPAPredictor


def _reference(p: JEPAPredictor, ctx, ctx_pos, tgt_pos, ctx_pad) -> torch.Tensor:
    """Each row and target set on its own: the valid context slots, then the target slots."""
    b, t, lt = tgt_pos.shape
    out = torch.empty(b, t, lt, p.out.out_features, dtype=torch.float64)
    for i in range(b):
        keep = ~ctx_pad[i]
        h = p.inp(ctx[i, keep]) + p.pos[ctx_pos[i, keep]]
        for j in range(t):
            q = p.mask_token + p.pos[tgt_pos[i, j]]
            seq = torch.cat([h, q])[None]
            out[i, j] = p.out(p.blocks(seq)[0, h.shape[0] :])
    return out


def test_matches_a_loop_over_rows_and_target_sets_with_padding() -> None:
    torch.manual_seed(0)
    p = JEPAPredictor(in_dim=6, dim=8, depth=2, num_heads=2, num_positions=12).double()
    ctx = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    ctx_pos = torch.randint(0, 12, (3, 5))
    tgt_pos = torch.randint(0, 12, (3, 2, 3))
    ctx_pad = torch.tensor([[False] * 5, [False, False, True, True, True], [False] * 4 + [True]])
    got = p(ctx, ctx_pos, tgt_pos, ctx_pad)
    ref = _reference(p, ctx, ctx_pos, tgt_pos, ctx_pad)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(ref)
    (g_got,) = torch.autograd.grad((got * w).sum(), ctx)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), ctx)
    torch.testing.assert_close(g_got, g_ref, rtol=1e-9, atol=1e-10)


def test_loads_a_checkpoint_that_kept_the_trunk_under_transformer() -> None:
    torch.manual_seed(0)
    p = JEPAPredictor(in_dim=4, dim=8, depth=1, num_heads=2, num_positions=6)
    legacy = {
        k.replace("blocks.", "transformer.", 1) if k.startswith("blocks.") else k: v
        for k, v in p.state_dict().items()
    }
    fresh = JEPAPredictor(in_dim=4, dim=8, depth=1, num_heads=2, num_positions=6)
    fresh.load_state_dict(legacy, strict=True)
    for key, value in p.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)

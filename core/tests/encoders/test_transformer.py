"""Tests for selfsup.encoders.transformer (the shared trunk)."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.encoders import TransformerBlock, TransformerTrunk, masked_mean


def _reference_block(block: TransformerBlock, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """Float64 pre-norm block with explicit softmax over the non-padded keys, row by row."""
    p = {k: v.double() for k, v in block.state_dict().items()}
    b, length, d = x.shape
    h = block.num_heads
    dh = d // h

    def layer_norm(t: torch.Tensor, w: str) -> torch.Tensor:
        mu = t.mean(-1, keepdim=True)
        var = ((t - mu) ** 2).mean(-1, keepdim=True)
        return (t - mu) / torch.sqrt(var + 1e-5) * p[f"{w}.weight"] + p[f"{w}.bias"]

    out = torch.empty(b, length, d, dtype=torch.float64)
    for i in range(b):
        xi = x[i].double()
        qkv = layer_norm(xi, "norm1") @ p["qkv.weight"].T + p["qkv.bias"]
        q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
        heads = []
        for j in range(h):
            sl = slice(j * dh, (j + 1) * dh)
            scores = q[:, sl] @ k[:, sl].T / math.sqrt(dh)
            scores[:, pad[i]] = -math.inf
            heads.append(torch.softmax(scores, dim=-1) @ v[:, sl])
        attn = torch.cat(heads, dim=-1) @ p["proj.weight"].T + p["proj.bias"]
        y = xi + attn
        hidden = layer_norm(y, "norm2") @ p["mlp.0.weight"].T + p["mlp.0.bias"]
        hidden = 0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))  # exact GELU
        out[i] = y + hidden @ p["mlp.2.weight"].T + p["mlp.2.bias"]
    return out


def test_block_matches_float64_reference_with_padding() -> None:
    torch.manual_seed(0)
    block = TransformerBlock(dim=8, num_heads=2).double()
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True], [False] + [True] * 4])
    got = block(x, pad)
    ref = _reference_block(block, x, pad)
    valid = ~pad
    torch.testing.assert_close(got[valid], ref[valid], rtol=1e-10, atol=1e-10)
    # gradients of the valid outputs w.r.t. the inputs
    weights = torch.randn_like(ref)
    (g_got,) = torch.autograd.grad((got[valid] * weights[valid]).sum(), x)
    (g_ref,) = torch.autograd.grad((ref[valid] * weights[valid]).sum(), x)
    torch.testing.assert_close(g_got, g_ref, rtol=1e-9, atol=1e-10)


def test_padded_tokens_do_not_change_valid_outputs() -> None:
    torch.manual_seed(1)
    trunk = TransformerTrunk(dim=16, depth=2, num_heads=4).eval()
    x = torch.randn(2, 6, 16)
    pad = torch.zeros(2, 6, dtype=torch.bool)
    pad[1, 4:] = True
    y = trunk(x, pad)
    x2 = x.clone()
    x2[1, 4:] = 100.0 * torch.randn(2, 16)
    torch.testing.assert_close(trunk(x2, pad)[~pad], y[~pad])
    # and equal the trunk run on the unpadded prefix alone
    torch.testing.assert_close(trunk(x[1:, :4])[0], y[1, :4], rtol=1e-5, atol=1e-5)


def test_masked_mean_matches_a_loop() -> None:
    tokens = torch.randn(3, 4, 2, dtype=torch.float64)
    pad = torch.tensor([[False, False, True, True], [False] * 4, [True, False, True, False]])
    got = masked_mean(tokens, pad)
    for i in range(3):
        keep = [tokens[i, j] for j in range(4) if not pad[i, j]]
        torch.testing.assert_close(got[i], sum(keep) / len(keep))
    torch.testing.assert_close(masked_mean(tokens), tokens.mean(1))


def test_bad_input_is_refused_clearly() -> None:
    trunk = TransformerTrunk(dim=8, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="tokenizer's output width must equal the trunk's dim"):
        trunk(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="padding_mask must be a bool tensor"):
        trunk(torch.randn(2, 3, 8), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="all padding"):
        trunk(torch.randn(2, 3, 8), torch.tensor([[True] * 3, [False] * 3]))
    with pytest.raises(ValueError, match="all padding"):
        masked_mean(torch.randn(1, 2, 3), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="num_heads"):
        TransformerTrunk(dim=6, num_heads=4)
    with pytest.raises(ValueError, match="depth must be a positive int"):
        TransformerTrunk(dim=8, depth=0)


def test_mlp_dim_sets_the_hidden_width_and_is_checked() -> None:
    trunk = TransformerTrunk(12, depth=2, num_heads=3, mlp_dim=20)
    assert all(block.mlp[0].out_features == 20 for block in trunk.blocks)
    with pytest.raises(ValueError, match="mlp_dim"):
        TransformerTrunk(12, mlp_dim=0)


def test_dropout_sits_where_the_torch_encoder_layer_puts_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block = TransformerBlock(8, 2, mlp_dim=16, dropout=0.5).train()
    shapes = []
    original = torch.nn.functional.dropout

    def recording(x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        shapes.append(tuple(x.shape))
        return original(x, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "dropout", recording)
    block(torch.randn(2, 3, 8))
    # after attention (2, 3, 8), between the MLP layers (2, 3, 16), after the MLP (2, 3, 8)
    assert shapes == [(2, 3, 8), (2, 3, 16), (2, 3, 8)]


def test_torch_init_draws_what_the_torch_encoder_layer_draws() -> None:
    torch.manual_seed(0)
    dim, hidden = 64, 256
    trunk = TransformerTrunk(dim, depth=1, num_heads=4, mlp_dim=hidden, init="torch")
    block = trunk.blocks[0]
    layer = torch.nn.TransformerEncoderLayer(dim, 4, hidden)
    pairs = [
        (block.qkv.weight, layer.self_attn.in_proj_weight),
        (block.qkv.bias, layer.self_attn.in_proj_bias),
        (block.proj.weight, layer.self_attn.out_proj.weight),
        (block.proj.bias, layer.self_attn.out_proj.bias),
        (block.mlp[0].weight, layer.linear1.weight),
        (block.mlp[0].bias, layer.linear1.bias),
        (block.mlp[2].weight, layer.linear2.weight),
        (block.mlp[2].bias, layer.linear2.bias),
    ]
    for ours, theirs in pairs:  # same uniform ranges (zero where torch zeroes)
        assert float(ours.abs().max()) <= float(theirs.abs().max()) * 1.05 + 1e-12
        assert float(theirs.abs().max()) <= float(ours.abs().max()) * 1.05 + 1e-12
    with pytest.raises(ValueError, match="init must be one of"):
        TransformerTrunk(8, num_heads=2, init="kaiming")

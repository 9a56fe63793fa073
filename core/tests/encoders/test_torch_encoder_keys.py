"""Tests for selfsup.encoders.torch_encoder_keys: nn.TransformerEncoderLayer stacks load into the
trunk and compute the same function."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfsup.encoders import TransformerTrunk
from selfsup.encoders.torch_encoder_keys import rename_torch_encoder_keys


def _torch_stack(dim: int, depth: int, heads: int, ffn: int) -> nn.ModuleList:
    return nn.ModuleList(
        nn.TransformerEncoderLayer(
            dim, heads, ffn, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        for _ in range(depth)
    )


@pytest.mark.parametrize("layout", ["layers", "blocks.layers"])
def test_torch_encoder_checkpoint_loads_and_computes_the_same(layout: str) -> None:
    torch.manual_seed(0)
    dim, depth, heads, ffn = 16, 3, 4, 24
    layers = _torch_stack(dim, depth, heads, ffn).double().eval()
    final = nn.LayerNorm(dim).double()
    nn.init.normal_(final.weight)
    nn.init.normal_(final.bias)
    state = {f"{layout}.{k}": v for k, v in layers.state_dict().items()}
    state.update({f"norm.{k}": v for k, v in final.state_dict().items()})

    trunk = TransformerTrunk(dim, depth=depth, num_heads=heads, mlp_dim=ffn).double().eval()
    trunk.load_state_dict(state, strict=True)

    x = torch.randn(2, 7, dim, dtype=torch.float64)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True
    ref = x
    with torch.no_grad():
        for layer in layers:
            # the slow path of the torch layer: math of the paper, no fused kernel
            ref = ref + layer._sa_block(layer.norm1(ref), None, pad)
            ref = ref + layer._ff_block(layer.norm2(ref))
        ref = final(ref)
        got = trunk(x, pad)
    valid = ~pad
    torch.testing.assert_close(got[valid], ref[valid], rtol=1e-10, atol=1e-10)


def test_rename_leaves_unknown_keys_and_refuses_mixed_layouts() -> None:
    state = {"layers.0.self_attn.bias_k": 1, "layers.0.linear1.weight": 2, "other": 3}
    assert rename_torch_encoder_keys(state) == 1
    assert state == {"layers.0.self_attn.bias_k": 1, "blocks.0.mlp.0.weight": 2, "other": 3}
    mixed = {"layers.0.norm1.weight": 1, "blocks.0.norm1.weight": 2}
    with pytest.raises(ValueError, match="keep one layout"):
        rename_torch_encoder_keys(mixed)


def test_strict_load_still_reports_parameters_the_trunk_lacks() -> None:
    layers = _torch_stack(8, 1, 2, 16)
    state = {f"layers.{k}": v for k, v in layers.state_dict().items()}
    state["layers.0.extra.weight"] = torch.zeros(1)
    trunk = TransformerTrunk(8, depth=1, num_heads=2, mlp_dim=16)
    with pytest.raises(RuntimeError, match="layers.0.extra.weight"):
        trunk.load_state_dict(state)

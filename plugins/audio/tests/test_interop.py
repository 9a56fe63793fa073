"""Official BEATs checkpoints reproduce the official encoder's features.

``official_encoder`` below re-implements ``microsoft/unilm`` BEATs' ``extract_features`` (patch
embedding -> LayerNorm -> projection -> positional convolution -> post-LN DeepNorm blocks with the
gated, bucketed relative position bias shared from layer 0) in float64 from the state dict alone,
following the reference code's operations (``q / 32``, row-max subtraction, ``x 32``, key padding
by ``-inf``, bias added after it), and never calls our modules.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from selfsup_audio.encoders import AudioEncoder
from selfsup_audio.encoders.transformer import relative_position_bucket
from selfsup_audio.interop import convert_official_state_dict, load_official_beats

#: Small sizes with the official names; 16 buckets / max distance 12 so that sequences of a few
#: dozen patches reach the logarithmic buckets and the last (capped) one.
LAYERS, DIM, HEADS, FFN, CONV, KERNEL, BUCKETS, MAX_DISTANCE = 3, 32, 4, 48, 24, 8, 16, 12
CFG = {
    "encoder_attention_heads": HEADS,
    "deep_norm": True,
    "layer_norm_first": False,
    "relative_position_embedding": True,
    "gru_rel_pos": True,
    "num_buckets": BUCKETS,
    "max_distance": MAX_DISTANCE,
}


def official_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights with the official names and shapes; the shared relative bias table is
    stored under every layer, as ``state_dict()`` of the official model stores it."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, std: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    s = {
        "patch_embedding.weight": r(CONV, 1, 16, 16, std=0.1),
        "layer_norm.weight": 1 + r(CONV, std=0.1),
        "layer_norm.bias": r(CONV, std=0.1),
        "post_extract_proj.weight": r(DIM, CONV, std=0.3),
        "post_extract_proj.bias": r(DIM, std=0.1),
        "encoder.pos_conv.0.bias": r(DIM, std=0.1),
        "encoder.pos_conv.0.weight_g": 1 + r(1, 1, KERNEL, std=0.1),
        "encoder.pos_conv.0.weight_v": r(DIM, DIM // 16, KERNEL),
        "encoder.layer_norm.weight": 1 + r(DIM, std=0.1),
        "encoder.layer_norm.bias": r(DIM, std=0.1),
    }
    table = r(BUCKETS, HEADS)
    for i in range(LAYERS):
        p = f"encoder.layers.{i}."
        for n in ("q", "k", "v", "out"):
            s[p + f"self_attn.{n}_proj.weight"] = r(DIM, DIM, std=0.3)
            s[p + f"self_attn.{n}_proj.bias"] = r(DIM, std=0.1)
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            s[p + f"{n}.weight"] = 1 + r(DIM, std=0.1)
            s[p + f"{n}.bias"] = r(DIM, std=0.1)
        s[p + "fc1.weight"], s[p + "fc1.bias"] = r(FFN, DIM, std=0.3), r(FFN, std=0.1)
        s[p + "fc2.weight"], s[p + "fc2.bias"] = r(DIM, FFN, std=0.3), r(DIM, std=0.1)
        s[p + "self_attn.relative_attention_bias.weight"] = table.clone()
        s[p + "self_attn.grep_linear.weight"] = r(8, DIM // HEADS, std=0.5)
        s[p + "self_attn.grep_linear.bias"] = r(8, std=0.1)
        s[p + "self_attn.grep_a"] = 1 + r(1, HEADS, 1, 1, std=0.5)
    return s


def bucket(rel: int, num_buckets: int, max_distance: int) -> int:
    """WavLM/BEATs ``_relative_positions_bucket`` for one relative position, bidirectional."""
    half = num_buckets // 2
    out = half if rel > 0 else 0
    dist = abs(rel)
    exact = half // 2
    if dist < exact:
        return out + dist
    large = exact + int(math.log(dist / exact) / math.log(max_distance / exact) * (half - exact))
    return out + min(large, half - 1)


def official_encoder(
    state: dict[str, torch.Tensor], fbank: torch.Tensor, patch_pad: torch.Tensor
) -> torch.Tensor:
    """float64 BEATs ``extract_features`` from normalised fbanks ``(B, T, n_mels)`` (T a multiple
    of 16) and the patch padding mask ``(B, N)``; returns ``(B, N, DIM)``."""
    w = {k: v.double() for k, v in state.items()}
    b = fbank.shape[0]
    x = F.conv2d(fbank.double()[:, None], w["patch_embedding.weight"], stride=16)
    x = x.reshape(b, x.shape[1], -1).transpose(1, 2)  # (B, T' F', C), index t * F' + f
    x = F.layer_norm(x, (CONV,), w["layer_norm.weight"], w["layer_norm.bias"])
    x = x @ w["post_extract_proj.weight"].T + w["post_extract_proj.bias"]
    # encoder.extract_features
    x = x.masked_fill(patch_pad[..., None], 0.0)
    v = w["encoder.pos_conv.0.weight_v"]
    weight = w["encoder.pos_conv.0.weight_g"] * v / v.norm(dim=(0, 1), keepdim=True)
    conv = F.conv1d(
        x.transpose(1, 2), weight, w["encoder.pos_conv.0.bias"], padding=KERNEL // 2, groups=16
    )
    conv = conv[..., :-1]  # SamePad: even kernel
    x = x + F.gelu(conv).transpose(1, 2)
    x = F.layer_norm(x, (DIM,), w["encoder.layer_norm.weight"], w["encoder.layer_norm.bias"])
    n = x.shape[1]
    idx = torch.tensor([[bucket(j - i, BUCKETS, MAX_DISTANCE) for j in range(n)] for i in range(n)])
    table = w["encoder.layers.0.self_attn.relative_attention_bias.weight"]
    position_bias = table[idx].permute(2, 0, 1)  # (H, N, N), computed in layer 0 and shared
    alpha = (2 * LAYERS) ** 0.25
    hd = DIM // HEADS
    scaling = hd**-0.5
    for i in range(LAYERS):
        p = f"encoder.layers.{i}."

        def lin(z: torch.Tensor, name: str, p: str = p) -> torch.Tensor:
            return z @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        def heads(z: torch.Tensor) -> torch.Tensor:
            return z.view(b, n, HEADS, hd).transpose(1, 2)

        q = heads(lin(x, "self_attn.q_proj"))
        k, val = heads(lin(x, "self_attn.k_proj")), heads(lin(x, "self_attn.v_proj"))
        logits = (q * scaling / 32) @ k.transpose(-1, -2)
        logits = (logits - logits.max(dim=-1, keepdim=True).values) * 32
        logits = logits.masked_fill(patch_pad[:, None, None, :], float("-inf"))
        u = lin(q, "self_attn.grep_linear").view(b, HEADS, n, 2, 4).sum(-1)
        gate_a, gate_b = torch.sigmoid(u).chunk(2, dim=-1)
        gate = gate_a * (gate_b * w[p + "self_attn.grep_a"] - 1.0) + 2.0
        logits = logits + gate * position_bias
        attn = (logits.softmax(dim=-1) @ val).transpose(1, 2).reshape(b, n, DIM)
        x = x * alpha + lin(attn, "self_attn.out_proj")
        x = F.layer_norm(
            x, (DIM,), w[p + "self_attn_layer_norm.weight"], w[p + "self_attn_layer_norm.bias"]
        )
        x = x * alpha + lin(F.gelu(lin(x, "fc1")), "fc2")
        ln = (w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"])
        x = F.layer_norm(x, (DIM,), *ln)
    return x


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three clips of 320, 200 and 90 frames (20, 13 and 6 time patches) padded to 320, junk
    in the padded frames (both models see it only through partially padded patches)."""
    g = torch.Generator().manual_seed(1)
    fbank = torch.randn(3, 320, 32, generator=g)
    lengths = torch.tensor([320, 200, 90])
    frame_pad = torch.arange(320)[None] >= lengths[:, None]
    # a time patch is padding when all its frames are; 2 frequency patches per time patch
    time_pad = (torch.arange(20)[None] * 16) >= lengths[:, None]
    patch_pad = time_pad[:, :, None].expand(-1, -1, 2).reshape(3, 40)
    return fbank, frame_pad, patch_pad


def test_bucket_matches_the_reference_rule_at_beats_scale() -> None:
    rel = torch.arange(-2000, 2001)
    ours = relative_position_bucket(rel, 320, 800)
    expected = torch.tensor([bucket(int(r), 320, 800) for r in rel])
    assert torch.equal(ours, expected)
    assert int(ours.min()) == 0 and int(ours.max()) == 319


def test_loaded_checkpoint_reproduces_the_official_encoder(tmp_path) -> None:
    state = official_state()
    torch.save({"cfg": CFG, "model": state}, tmp_path / "BEATs_iter3.pt")
    official = load_official_beats(str(tmp_path / "BEATs_iter3.pt"))
    assert official.unmapped == []
    enc = official.encoder.double().eval()
    c = enc.config
    assert c["relative_positions"] and c["gated_relative_positions"]
    assert (c["num_buckets"], c["max_distance"], c["heads"]) == (BUCKETS, MAX_DISTANCE, HEADS)
    fbank, frame_pad, patch_pad = inputs()
    ours, pad = enc(fbank.double(), frame_pad)
    assert torch.equal(pad, patch_pad)
    expected = official_encoder(state, fbank, patch_pad)
    torch.testing.assert_close(ours, expected, rtol=1e-9, atol=1e-9)
    # the bias matters: without it the features differ
    no_bias = dict(state)
    for i in range(LAYERS):
        key = f"encoder.layers.{i}.self_attn.relative_attention_bias.weight"
        no_bias[key] = torch.zeros_like(state[key])
    assert (official_encoder(no_bias, fbank, patch_pad) - expected).abs().max() > 1e-2


def test_relative_bias_gradients_match_the_official_encoder() -> None:
    state = official_state(seed=2)
    enc = convert_official_state_dict(state, CFG).encoder.double()
    fbank, frame_pad, patch_pad = inputs()
    g = torch.Generator().manual_seed(3)
    weights = torch.randn(3, 40, DIM, generator=g, dtype=torch.float64)
    (enc(fbank.double(), frame_pad)[0] * weights).sum().backward()
    blocks = enc.transformer.layers
    names = {
        "encoder.layers.0.self_attn.relative_attention_bias.weight": (
            enc.transformer.relative_position_bias.embedding.weight
        ),
        "encoder.layers.1.self_attn.grep_a": blocks[1].grep_a,
        "encoder.layers.2.self_attn.grep_linear.weight": blocks[2].grep_linear.weight,
        "encoder.layers.2.self_attn.q_proj.weight": blocks[2].q_proj.weight,
    }
    leaves = {k: v.double().requires_grad_(True) for k, v in state.items()}
    shared = leaves["encoder.layers.0.self_attn.relative_attention_bias.weight"]
    for i in range(1, LAYERS):  # one shared table, as in the official model
        leaves[f"encoder.layers.{i}.self_attn.relative_attention_bias.weight"] = shared
    (official_encoder(leaves, fbank, patch_pad) * weights).sum().backward()
    for key, param in names.items():
        torch.testing.assert_close(param.grad, leaves[key].grad, rtol=1e-8, atol=1e-10)


def test_ungated_bias_and_older_checkpoints() -> None:
    state = {k: v for k, v in official_state().items() if ".grep_" not in k}
    enc = convert_official_state_dict(state, CFG).encoder
    assert enc.config["relative_positions"] and not enc.config["gated_relative_positions"]
    # an encoder saved before the relative-bias options existed still loads
    old = AudioEncoder("tiny", depth=1, patch=(4, 16)).state_dict()
    for key in ("relative_positions", "num_buckets", "max_distance", "gated_relative_positions"):
        del old["_extra_state"][key]
    again = AudioEncoder.from_state_dict(old)
    assert not again.config["relative_positions"]
    AudioEncoder("tiny", depth=1, patch=(4, 16)).load_state_dict(old)


def test_bad_relative_bias_arguments_and_copies() -> None:
    with pytest.raises(ValueError, match="needs relative_positions"):
        AudioEncoder("tiny", gated_relative_positions=True)
    with pytest.raises(ValueError, match="even number"):
        AudioEncoder("tiny", relative_positions=True, num_buckets=7)
    with pytest.raises(ValueError, match="max_distance"):
        AudioEncoder("tiny", relative_positions=True, num_buckets=32, max_distance=8)
    state = official_state()
    state["encoder.layers.2.self_attn.relative_attention_bias.weight"] += 1.0
    with pytest.raises(ValueError, match="layer 2's copy"):
        convert_official_state_dict(state, CFG)

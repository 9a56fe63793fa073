"""Loading a released BEATs checkpoint (``microsoft/unilm`` ``BEATs.py``) into our encoder.

The converted encoder computes the official model's features: same patch embedding, positional
convolution, post-LN DeepNorm blocks and gated bucketed relative position bias (the official
attention's ``q / 32``, row-max subtraction and ``x 32`` before the softmax only change rounding,
so our ``scaled_dot_product_attention`` gives the same result).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checkpoints import load_checkpoint_file, read_state_dict
from selfsup_audio.encoders.transformer import AudioEncoder

__all__ = ["OfficialBEATs", "convert_official_state_dict", "load_official_beats"]

#: Official parameter names -> ours (``{i}`` = layer index). Everything else is reported.
_RENAMES: list[tuple[str, str]] = [
    (r"^patch_embedding\.weight$", "patch_embed.conv.weight"),
    (r"^layer_norm\.(weight|bias)$", r"patch_embed.norm.\1"),
    (r"^post_extract_proj\.(weight|bias)$", r"patch_embed.proj.\1"),
    (
        r"^encoder\.pos_conv\.0\.weight_g$",
        "transformer.pos_conv.conv.parametrizations.weight.original0",
    ),
    (
        r"^encoder\.pos_conv\.0\.weight_v$",
        "transformer.pos_conv.conv.parametrizations.weight.original1",
    ),
    (r"^encoder\.pos_conv\.0\.bias$", "transformer.pos_conv.conv.bias"),
    (r"^encoder\.layer_norm\.(weight|bias)$", r"transformer.layer_norm.\1"),
    (
        r"^encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)$",
        r"transformer.layers.\1.\2_proj.\3",
    ),
    (
        r"^encoder\.layers\.(\d+)\.(self_attn_layer_norm|final_layer_norm|fc1|fc2)\.(weight|bias)$",
        r"transformer.layers.\1.\2.\3",
    ),
    (
        r"^encoder\.layers\.(\d+)\.self_attn\.grep_linear\.(weight|bias)$",
        r"transformer.layers.\1.grep_linear.\2",
    ),
    (r"^encoder\.layers\.(\d+)\.self_attn\.grep_a$", r"transformer.layers.\1.grep_a"),
]

#: The relative position bias: created in layer 0 and shared, so a state dict may hold one
#: identical copy per layer.
_RELATIVE_BIAS = re.compile(r"^encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.weight$")
_OUR_RELATIVE_BIAS = "transformer.relative_position_bias.embedding.weight"


@dataclass
class OfficialBEATs:
    """A converted official checkpoint.

    Attributes:
        encoder: Our :class:`AudioEncoder` holding the official weights (post-LN, DeepNorm,
            convolutional positions, gated relative position bias, no sine-cosine positions).
        head: The fine-tuned ``predictor`` (``Linear(768, 527)`` for AudioSet) or None.
        unmapped: Official keys with no counterpart here (empty for the released BEATs
            checkpoints).
    """

    encoder: AudioEncoder
    head: nn.Linear | None
    unmapped: list[str]


def _cfg_value(cfg: dict[str, Any], key: str, default: Any) -> Any:
    return cfg.get(key, default) if isinstance(cfg, dict) else default


def _check_shape(key: str, value: Tensor, new: str, ours: dict[str, Tensor]) -> None:
    if new not in ours or ours[new].shape != value.shape:
        got = tuple(ours[new].shape) if new in ours else "missing"
        raise ValueError(f"{key} {tuple(value.shape)} -> {new} {got}: shape mismatch.")


def convert_official_state_dict(
    state: dict[str, Tensor], cfg: dict[str, Any] | None = None
) -> OfficialBEATs:
    """Map an official BEATs ``model`` state dict (and its ``cfg``) onto our modules.

    Sizes come from the tensors (layers, width, FFN, patch, buckets; heads from the relative
    bias table when there is one), the rest from ``cfg``: ``encoder_attention_heads``
    (default 12), ``deep_norm`` and ``layer_norm_first`` (defaults: the released iter3
    models' True / False) and ``max_distance`` (default 1280, ``BEATsConfig``'s; the
    released models store 800). The relative position bias is used when the state dict has
    ``relative_attention_bias`` and gated when it has ``grep_a``, as the official model does.

    Raises:
        KeyError: the state dict lacks BEATs' patch embedding or layers.
        ValueError: a mapped tensor's shape differs from ours, or the per-layer copies of the
            shared relative position bias differ.
    """
    cfg = cfg or {}
    if "patch_embedding.weight" not in state:
        raise KeyError(
            "not an official BEATs state dict (no 'patch_embedding.weight'); for selfsup "
            "checkpoints use AudioEncoder.from_state_dict."
        )
    conv = state["patch_embedding.weight"]
    proj = state["post_extract_proj.weight"]
    layers = {int(m.group(1)) for k in state if (m := re.match(r"^encoder\.layers\.(\d+)\.", k))}
    if not layers:
        raise KeyError("the official state dict has no encoder layers.")
    ffn = state["encoder.layers.0.fc1.weight"].shape[0]
    has_pos = "encoder.pos_conv.0.bias" in state
    kernel = state["encoder.pos_conv.0.weight_v"].shape[-1] if has_pos else 128
    tables = {int(m.group(1)): v for k, v in state.items() if (m := _RELATIVE_BIAS.match(k))}
    if tables and 0 not in tables:
        raise KeyError("the relative position bias must be in layer 0, where BEATs creates it.")
    for i, table in tables.items():
        if not torch.equal(table, tables[0]):
            raise ValueError(
                f"layer {i}'s copy of the shared relative position bias differs from layer 0's."
            )
    heads = int(_cfg_value(cfg, "encoder_attention_heads", tables[0].shape[1] if tables else 12))
    encoder = AudioEncoder(
        "base",
        dim=proj.shape[0],
        depth=max(layers) + 1,
        heads=heads,
        ffn_dim=ffn,
        patch=(conv.shape[2], conv.shape[3]),
        conv_dim=conv.shape[0],
        norm_first=bool(_cfg_value(cfg, "layer_norm_first", False)),
        conv_positions=has_pos,
        conv_kernel=kernel,
        deep_norm=bool(_cfg_value(cfg, "deep_norm", True)),
        sincos_positions=False,
        relative_positions=bool(tables),
        num_buckets=tables[0].shape[0] if tables else 320,
        max_distance=int(_cfg_value(cfg, "max_distance", 1280)),
        gated_relative_positions=bool(tables) and any(k.endswith(".grep_a") for k in state),
    )
    ours = encoder.state_dict()
    mapped: dict[str, Tensor] = {}
    unmapped: list[str] = []
    for key, value in state.items():
        if _RELATIVE_BIAS.match(key):  # every copy equals layer 0's (checked above)
            _check_shape(key, value, _OUR_RELATIVE_BIAS, ours)
            mapped[_OUR_RELATIVE_BIAS] = value
            continue
        if not tables and ".grep_" in key:  # a gate without a bias to gate: unused there too
            unmapped.append(key)
            continue
        for pattern, target in _RENAMES:
            if re.match(pattern, key):
                new = re.sub(pattern, target, key)
                _check_shape(key, value, new, ours)
                mapped[new] = value
                break
        else:
            if not key.startswith("predictor."):
                unmapped.append(key)
    missing = [k for k in ours if k not in mapped and not k.endswith("_extra_state")]
    if missing:
        raise KeyError(f"the official state dict does not provide {missing[:5]}.")
    encoder.load_state_dict({**ours, **mapped})
    head = None
    if "predictor.weight" in state:
        w = state["predictor.weight"]
        head = nn.Linear(w.shape[1], w.shape[0])
        head.load_state_dict({"weight": w, "bias": state["predictor.bias"]})
    return OfficialBEATs(encoder, head, unmapped)


def load_official_beats(path: str) -> OfficialBEATs:
    """Read a released ``BEATs_iter*.pt`` (``{"cfg": ..., "model": ...}``) from a local path.

    Nothing is downloaded. See :func:`convert_official_state_dict`.
    """
    raw = load_checkpoint_file(path)
    cfg = raw.get("cfg") if isinstance(raw, dict) else None
    return convert_official_state_dict(read_state_dict(path), cfg)

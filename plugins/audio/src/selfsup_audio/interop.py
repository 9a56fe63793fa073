"""Loading a released BEATs checkpoint (``microsoft/unilm`` ``BEATs.py``) into our encoder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from selfsup_audio.checkpoints import read_state_dict
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
]


@dataclass
class OfficialBEATs:
    """A converted official checkpoint.

    Attributes:
        encoder: Our :class:`AudioEncoder` holding the official weights (post-LN, DeepNorm,
            convolutional positions, no sine-cosine positions).
        head: The fine-tuned ``predictor`` (``Linear(768, 527)`` for AudioSet) or None.
        unmapped: Official keys with no counterpart here (relative position bias and its GRU
            gate: our attention has none, so outputs differ from the official model's until
            fine-tuning adapts).
    """

    encoder: AudioEncoder
    head: nn.Linear | None
    unmapped: list[str]


def _cfg_value(cfg: dict[str, Any], key: str, default: Any) -> Any:
    return cfg.get(key, default) if isinstance(cfg, dict) else default


def convert_official_state_dict(
    state: dict[str, Tensor], cfg: dict[str, Any] | None = None
) -> OfficialBEATs:
    """Map an official BEATs ``model`` state dict (and its ``cfg``) onto our modules.

    Sizes come from the tensors (layers, width, FFN, patch) and heads from ``cfg``
    (``encoder_attention_heads``, default 12); ``deep_norm`` and ``layer_norm_first`` from
    ``cfg`` (defaults: the released iter3 models' True / False).

    Raises:
        KeyError: the state dict lacks BEATs' patch embedding or layers.
        ValueError: a mapped tensor's shape differs from ours.
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
    encoder = AudioEncoder(
        "base",
        dim=proj.shape[0],
        depth=max(layers) + 1,
        heads=int(_cfg_value(cfg, "encoder_attention_heads", 12)),
        ffn_dim=ffn,
        patch=(conv.shape[2], conv.shape[3]),
        conv_dim=conv.shape[0],
        norm_first=bool(_cfg_value(cfg, "layer_norm_first", False)),
        conv_positions=has_pos,
        conv_kernel=kernel,
        deep_norm=bool(_cfg_value(cfg, "deep_norm", True)),
        sincos_positions=False,
    )
    ours = encoder.state_dict()
    mapped: dict[str, Tensor] = {}
    unmapped: list[str] = []
    for key, value in state.items():
        for pattern, target in _RENAMES:
            if re.match(pattern, key):
                new = re.sub(pattern, target, key)
                if new not in ours or ours[new].shape != value.shape:
                    got = tuple(ours[new].shape) if new in ours else "missing"
                    raise ValueError(f"{key} {tuple(value.shape)} -> {new} {got}: shape mismatch.")
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
    raw = torch.load(path, map_location="cpu", weights_only=True)
    cfg = raw.get("cfg") if isinstance(raw, dict) else None
    return convert_official_state_dict(read_state_dict(path), cfg)

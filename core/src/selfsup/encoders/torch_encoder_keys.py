"""State-dict keys of ``torch.nn.TransformerEncoderLayer`` stacks, renamed to the trunk's.

Before :class:`selfsup.encoders.TransformerTrunk` served every plugin, vision (MAE decoder, I-JEPA
predictor) and tabular (T-JEPA) stacked ``nn.TransformerEncoderLayer(norm_first=True,
activation="gelu")`` modules under a ``TokenTransformer``. A block of either computes the same
function; only the parameter names differ:

================================  ==================
``nn.TransformerEncoderLayer``    ``TransformerBlock``
================================  ==================
``self_attn.in_proj_weight``      ``qkv.weight``
``self_attn.in_proj_bias``        ``qkv.bias``
``self_attn.out_proj.*``          ``proj.*``
``linear1.*``                     ``mlp.0.*``
``linear2.*``                     ``mlp.2.*``
``norm1.*`` / ``norm2.*``         ``norm1.*`` / ``norm2.*``
================================  ==================

The layers stood at ``layers.{i}`` (tabular, and ``nn.TransformerEncoder`` itself) or at
``blocks.layers.{i}`` (vision's ``nn.TransformerEncoder`` under ``blocks``); the trunk keeps them
at ``blocks.{i}``. The rename cannot tell a post-norm (``norm_first=False``) or ReLU layer from
the pre-norm GELU one by its keys; only the latter computes the same function in the trunk.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

__all__ = ["TORCH_LAYER_KEYS", "rename_torch_encoder_keys"]

_LAYER = re.compile(r"(?:blocks\.)?layers\.(\d+)\.(.+)")
#: ``nn.TransformerEncoderLayer`` parameter name -> ``TransformerBlock`` parameter name.
TORCH_LAYER_KEYS = {
    "self_attn.in_proj_weight": "qkv.weight",
    "self_attn.in_proj_bias": "qkv.bias",
    "self_attn.out_proj.weight": "proj.weight",
    "self_attn.out_proj.bias": "proj.bias",
    "linear1.weight": "mlp.0.weight",
    "linear1.bias": "mlp.0.bias",
    "linear2.weight": "mlp.2.weight",
    "linear2.bias": "mlp.2.bias",
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
}


def rename_torch_encoder_keys(state_dict: MutableMapping[str, Any], prefix: str = "") -> int:
    """Rename, in place, the ``nn.TransformerEncoderLayer`` keys under ``prefix`` to
    :class:`~selfsup.encoders.TransformerBlock` keys; return how many were renamed.

    Keys that are not a known layer parameter (and every key outside ``prefix``) are left as
    they are, so a strict load still reports them. A key whose new name is already present is
    an error: the dict mixes both layouts.

    Raises:
        ValueError: both the old and the new name of one parameter are in ``state_dict``.

    Examples:
        >>> import torch
        >>> state = {"enc.layers.0.linear1.weight": torch.zeros(8, 4), "enc.norm.bias": 0}
        >>> rename_torch_encoder_keys(state, "enc.")
        1
        >>> sorted(state)
        ['enc.blocks.0.mlp.0.weight', 'enc.norm.bias']
    """
    renames = {}
    for key in state_dict:
        if not key.startswith(prefix):
            continue
        match = _LAYER.fullmatch(key[len(prefix) :])
        if match is None or match.group(2) not in TORCH_LAYER_KEYS:
            continue
        renames[key] = f"{prefix}blocks.{match.group(1)}.{TORCH_LAYER_KEYS[match.group(2)]}"
    clashes = sorted(new for new in renames.values() if new in state_dict)
    if clashes:
        raise ValueError(
            f"the state dict holds both nn.TransformerEncoderLayer keys and trunk keys for "
            f"{clashes[:3]}; keep one layout (re-save the checkpoint from one model)."
        )
    for old, new in renames.items():
        state_dict[new] = state_dict.pop(old)
    return len(renames)

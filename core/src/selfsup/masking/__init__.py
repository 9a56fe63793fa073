"""Domain-agnostic mask generators over token sets.

On-device, sync-free generators (call them inside ``training_step`` or a collate function):
:func:`random_token_mask` (MAE), :func:`padded_token_mask` (variable-length sequences),
:func:`feature_subset_mask` (T-JEPA), :func:`node_mask` (GraphMAE).
Host generators, built on the CPU for a ``collate_fn`` and moved with one copy:
:func:`block_mask` (BEiT) and :func:`multiblock_mask` (I-JEPA).

Every generator takes ``generator=`` (reproducible masks) and ``device=``, returns exact counts, and
raises :class:`ValueError` on bad arguments.
"""

from __future__ import annotations

from selfsup.masking.block import block_mask
from selfsup.masking.feature_subset import FeatureSubsetMask, feature_subset_mask
from selfsup.masking.multiblock import MultiBlockMask, multiblock_mask
from selfsup.masking.node import NodeMask, apply_node_mask, node_mask
from selfsup.masking.padded import PaddedTokenMask, padded_token_mask
from selfsup.masking.token import TokenMask, gather_tokens, random_token_mask, restore_tokens

__all__ = [
    "FeatureSubsetMask",
    "MultiBlockMask",
    "NodeMask",
    "PaddedTokenMask",
    "TokenMask",
    "apply_node_mask",
    "block_mask",
    "feature_subset_mask",
    "gather_tokens",
    "multiblock_mask",
    "node_mask",
    "padded_token_mask",
    "random_token_mask",
    "restore_tokens",
]

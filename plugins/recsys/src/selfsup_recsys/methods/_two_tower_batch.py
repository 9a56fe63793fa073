"""FeatureTwoTower's batch checks and its logQ correction (the ``-log p`` bias of each item).

Helpers of :class:`~selfsup_recsys.methods.FeatureTwoTower` only; ``owner`` is the method's
class name, for the messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from selfsup.experiment.method import MalformedBatchError
from selfsup_recsys.batch import FeatureSpec, check_features
from selfsup_recsys.frequency import StreamingFrequencyEstimator

__all__ = ["LOGQ_MODES", "batch_key", "batch_mapping", "item_ids", "logq_bias", "pair_rows"]

LOGQ_MODES = ("none", "streaming", "batch")


def batch_mapping(batch: Any, owner: str) -> Mapping[str, Any]:
    """``batch`` if it is a mapping."""
    if not isinstance(batch, Mapping):
        raise MalformedBatchError(
            f"{owner} expects a dict with 'query', 'item' and 'item_ids', got "
            f"{type(batch).__name__}."
        )
    return batch


def batch_key(batch: Mapping[str, Any], key: str, owner: str) -> Any:
    """``batch[key]``, with a message listing the keys when it is missing."""
    if key not in batch:
        raise MalformedBatchError(
            f"{owner} batch is missing {key!r} (keys: {sorted(map(str, batch))})."
        )
    return batch[key]


def pair_rows(
    batch: Mapping[str, Any],
    query_specs: Sequence[FeatureSpec],
    item_specs: Sequence[FeatureSpec],
    owner: str,
) -> int:
    """The number of (query, item) pairs, after checking both sides' features.

    Raises:
        MalformedBatchError: missing or malformed features, or fewer than 2 pairs.
    """
    rows = check_features(batch_key(batch, "query", owner), query_specs, "batch['query']")
    check_features(batch_key(batch, "item", owner), item_specs, "batch['item']", rows)
    if rows < 2:
        raise MalformedBatchError(
            f"{owner} needs at least 2 interactions per batch (in-batch "
            f"negatives), got {rows}; use drop_last=True."
        )
    return rows


def item_ids(batch: Mapping[str, Any], rows: int, owner: str) -> Tensor:
    """``batch["item_ids"]``, checked: ``(rows,)`` int64 catalog rows ``>= 0``."""
    ids = batch_key(batch, "item_ids", owner)
    if not isinstance(ids, Tensor) or ids.shape != (rows,) or ids.dtype != torch.long:
        got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, Tensor) else type(ids)
        raise MalformedBatchError(
            f"batch['item_ids'] must be an int64 tensor of shape ({rows},), got {got}."
        )
    if rows and int(ids.min()) < 0:
        raise MalformedBatchError("batch['item_ids'] must be >= 0 (catalog row indices).")
    return ids


def _batch_log_prob(batch: Mapping[str, Any], rows: int, owner: str) -> Tensor:
    lp = batch_key(batch, "item_log_prob", owner)
    if not isinstance(lp, Tensor) or lp.shape != (rows,) or not lp.is_floating_point():
        got = f"{lp.dtype} {tuple(lp.shape)}" if isinstance(lp, Tensor) else type(lp)
        raise MalformedBatchError(
            f"batch['item_log_prob'] must be a float tensor of shape ({rows},), got {got}."
        )
    if not bool(torch.isfinite(lp).all()) or bool((lp > 0).any()):
        raise MalformedBatchError("batch['item_log_prob'] must hold finite log-probabilities <= 0.")
    return lp


def logq_bias(
    logq: str,
    batch: Mapping[str, Any],
    rows: int,
    ids: Tensor | None,
    frequency: StreamingFrequencyEstimator,
    update: bool,
    owner: str,
) -> Tensor | None:
    """``-log p`` of each positive item for ``logq`` (see ``FeatureTwoTower``), or ``None``.

    ``"batch"`` reads ``batch["item_log_prob"]``; ``"streaming"`` asks ``frequency`` for the
    ``ids`` (updating it when ``update``, i.e. on training steps; validation only reads it).
    """
    if logq == "batch":
        return -_batch_log_prob(batch, rows, owner)
    if logq == "streaming":
        assert ids is not None  # streaming logQ always reads the ids
        log_p = frequency(ids) if update else frequency.log_prob(ids)
        return -log_p.to(ids.device)
    return None

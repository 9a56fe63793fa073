"""Representation-quality metrics: RankMe, alignment/uniformity, kNN and linear probes, the
:class:`Probe` protocol the probe monitor runs, and rank correlations that measure whether a
label-free score selects runs as a probe would.

Pure functions on feature tensors plus Lightning callbacks
(:class:`RankMeMonitor`, :class:`ProbeMonitor`) that log them during training.
The callbacks are imported on first access, so the functions load torch only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from selfsup.metrics.alignment_uniformity import alignment, uniformity
from selfsup.metrics.frozen import frozen_eval
from selfsup.metrics.knn import knn_accuracy, knn_predict
from selfsup.metrics.linear_probe import LinearProbeResult, linear_probe
from selfsup.metrics.probes import ClassificationProbe, Probe, ProbeContext
from selfsup.metrics.ranking import average_ranks, kendall_tau, selection_regret, spearman
from selfsup.metrics.rankme import rankme

if TYPE_CHECKING:
    from selfsup.metrics.callbacks import ProbeMonitor, RankMeMonitor
    from selfsup.metrics.rankme_checkpoint import RankMeCheckpoint

__all__ = [
    "ClassificationProbe",
    "LinearProbeResult",
    "Probe",
    "ProbeContext",
    "ProbeMonitor",
    "RankMeCheckpoint",
    "RankMeMonitor",
    "alignment",
    "average_ranks",
    "frozen_eval",
    "kendall_tau",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "rankme",
    "selection_regret",
    "spearman",
    "uniformity",
]

_LAZY = {"ProbeMonitor", "RankMeMonitor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from selfsup.metrics import callbacks

        return getattr(callbacks, name)
    if name == "RankMeCheckpoint":
        from selfsup.metrics.rankme_checkpoint import RankMeCheckpoint

        return RankMeCheckpoint
    raise AttributeError(f"module 'selfsup.metrics' has no attribute {name!r}")

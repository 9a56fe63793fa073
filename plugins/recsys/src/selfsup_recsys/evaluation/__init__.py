"""Retrieval evaluation of two-tower models: full-corpus Recall/NDCG (overall, head and tail),
offline (:func:`evaluate_retrieval`) and during ``selfsup fit`` (:class:`RetrievalProbe`, run by
core's ``selfsup.metrics.ProbeMonitor``)."""

from typing import TYPE_CHECKING, Any

from selfsup_recsys.evaluation.probe import RetrievalProbe
from selfsup_recsys.evaluation.retrieval import (
    evaluate_retrieval,
    head_tail_groups,
    ranking_metrics,
    topk_excluding,
)

if TYPE_CHECKING:
    from selfsup_recsys.evaluation.monitor import RetrievalMonitor

__all__ = [
    "RetrievalMonitor",
    "RetrievalProbe",
    "evaluate_retrieval",
    "head_tail_groups",
    "ranking_metrics",
    "topk_excluding",
]


def __getattr__(name: str) -> Any:
    # the deprecated monitor imports Lightning: loaded on first use
    if name == "RetrievalMonitor":
        from selfsup_recsys.evaluation.monitor import RetrievalMonitor

        return RetrievalMonitor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

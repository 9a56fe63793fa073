"""Deprecated: ``RetrievalMonitor`` is core's :class:`~selfsup.metrics.ProbeMonitor` with a
:class:`~selfsup_recsys.evaluation.RetrievalProbe` (kept for one release)."""

from __future__ import annotations

import warnings

from selfsup.metrics.callbacks import ProbeMonitor
from selfsup_recsys.evaluation.probe import RetrievalProbe

__all__ = ["RetrievalMonitor"]


class RetrievalMonitor(ProbeMonitor):
    """Deprecated: use ``ProbeMonitor(probes=[RetrievalProbe(head_fraction=...)])``.

    Metrics are logged under the one probe scheme, ``"{task}/val/recall@50"`` (this monitor
    logged ``"val/{task}/recall@50"`` before), every ``every_n_epochs`` epochs.

    Args:
        every_n_epochs: Evaluation period in epochs (default 1).
        head_fraction: Share of most popular items that are "head" (default 0.2).

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     monitor = RetrievalMonitor(every_n_epochs=2)
    """

    def __init__(self, every_n_epochs: int = 1, head_fraction: float = 0.2) -> None:
        warnings.warn(
            "RetrievalMonitor is deprecated: use selfsup.metrics.ProbeMonitor(probes=["
            "selfsup_recsys.evaluation.RetrievalProbe(head_fraction=...)]); metrics are now "
            "logged as '{task}/val/recall@50'.",
            DeprecationWarning,
            stacklevel=2,
        )
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}.")
        super().__init__(
            probes=[RetrievalProbe("val", head_fraction)], every_n_epochs=every_n_epochs
        )

"""``RetrievalProbe``: full-corpus Recall/NDCG of a two-tower model as a
:class:`selfsup.metrics.Probe`, run by core's :class:`~selfsup.metrics.ProbeMonitor`."""

from __future__ import annotations

from selfsup.metrics.probes import Probe, ProbeContext

__all__ = ["RetrievalProbe"]


class RetrievalProbe(Probe):
    """Recall/NDCG@{10, 50} (overall, head, tail) on one split of the task's interactions.

    Applies to every task whose data module has ``evaluate(method, split, head_fraction)``
    (:class:`~selfsup_recsys.data.InteractionDataModule`) and whose method has
    ``item_embeddings`` (the two-tower methods). Metrics are prefixed by the split, so they are
    logged as ``"{task}/val/recall@50"``, ``"{task}/val/tail/ndcg@10"``, ...: the
    validation split by default (the test split is read once, by the benchmark script, never
    during training).

    Args:
        split: ``"val"`` (default) or ``"test"``.
        head_fraction: Share of most popular items that are "head" (default 0.2).

    Raises:
        ValueError: another split or a fraction outside ``(0, 1)``.

    Examples:
        >>> from selfsup.metrics import ProbeMonitor
        >>> monitor = ProbeMonitor(probes=[RetrievalProbe()], every_n_epochs=1)
    """

    def __init__(self, split: str = "val", head_fraction: float = 0.2) -> None:
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}.")
        if not 0.0 < head_fraction < 1.0:
            raise ValueError(f"head_fraction must lie in (0, 1), got {head_fraction}.")
        self.split = split
        self.head_fraction = float(head_fraction)

    def __call__(self, ctx: ProbeContext) -> dict[str, float] | None:
        evaluate = getattr(ctx.data, "evaluate", None)
        if not callable(evaluate) or not hasattr(ctx.method, "item_embeddings"):
            return None
        metrics = evaluate(ctx.method, self.split, head_fraction=self.head_fraction)
        return {f"{self.split}/{name}": float(value) for name, value in metrics.items()}

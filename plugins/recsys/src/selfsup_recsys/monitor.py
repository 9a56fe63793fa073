"""``RetrievalMonitor``: full-corpus Recall/NDCG on the validation split during ``selfsup fit``."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

__all__ = ["RetrievalMonitor"]


class RetrievalMonitor(Callback):
    """Log ``val/{task}/recall@K``, ``ndcg@K`` (overall, head, tail) every ``every_n_epochs``.

    Works for every task whose data module has ``evaluate(method, split, head_fraction)``
    (:class:`~selfsup_recsys.data.InteractionDataModule`) and whose method has
    ``query_embeddings``/``item_embeddings``. Runs at the end of each training epoch (it needs
    no validation loader) and leaves the method in training mode.

    Args:
        every_n_epochs: evaluation period in epochs (default 1).
        head_fraction: share of most popular items that are "head" (default 0.2).

    Raises:
        ValueError: ``every_n_epochs < 1``.
    """

    def __init__(self, every_n_epochs: int = 1, head_fraction: float = 0.2) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}.")
        self.every_n_epochs = every_n_epochs
        self.head_fraction = head_fraction
        self.last: dict[str, dict[str, float]] = {}

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        tasks: Any = getattr(pl_module, "tasks", {}) or {}
        for name, task in tasks.items():
            evaluate = getattr(task.data, "evaluate", None)
            if evaluate is None or not hasattr(task.method, "item_embeddings"):
                continue
            metrics = evaluate(task.method, "val", head_fraction=self.head_fraction)
            self.last[name] = metrics
            for key, value in metrics.items():
                pl_module.log(f"val/{name}/{key}", value, batch_size=1)

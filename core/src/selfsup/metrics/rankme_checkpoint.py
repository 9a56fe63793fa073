"""Keep the checkpoints with the highest RankMe: checkpoint selection without labels.

Where RankMe ranks checkpoints the way a validation probe does (measured per method family
by ``benchmarks/core/rankme_selection.py``; ``docs/selection.md`` says where it does and
where it does not), a run can keep its best checkpoints without any labelled data.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["RankMeCheckpoint"]


class RankMeCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` on the RankMe a :class:`~selfsup.metrics.RankMeMonitor` logs.

    Args:
        task: The task whose RankMe decides (the metric ``"{task}/{key}"``).
        every_n_train_steps: How often to consider a checkpoint; use the monitor's
            ``every_n_steps`` so every decision sees a fresh RankMe.
        key: The monitor's metric suffix (default ``"rankme"``).
        save_top_k: How many of the highest-RankMe checkpoints to keep (default 1).
        **kwargs: Other ``ModelCheckpoint`` arguments (``dirpath``, ``save_last``, ...).

    Examples:
        >>> from selfsup.metrics import RankMeMonitor
        >>> callbacks = [
        ...     RankMeMonitor(every_n_steps=200),
        ...     RankMeCheckpoint("digits", every_n_train_steps=200, dirpath="ckpts"),
        ... ]
    """

    def __init__(
        self,
        task: str,
        every_n_train_steps: int = 500,
        key: str = "rankme",
        save_top_k: int = 1,
        **kwargs: Any,
    ) -> None:
        if not task or "/" in task:
            raise ValueError(f"task must be a task name without '/', got {task!r}.")
        for fixed in ("monitor", "mode"):
            if fixed in kwargs:
                raise ValueError(
                    f"RankMeCheckpoint sets {fixed} itself; use ModelCheckpoint for another metric."
                )
        kwargs.setdefault("filename", "{step}-rankme{" + f"{task}/{key}" + ":.2f}")
        kwargs.setdefault("auto_insert_metric_name", False)
        super().__init__(
            monitor=f"{task}/{key}",
            mode="max",
            save_top_k=save_top_k,
            every_n_train_steps=every_n_train_steps,
            **kwargs,
        )

"""End-of-run report: per-task loss and RankMe curves (PNG) and a table of final probe scores."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.rank_zero import rank_zero_only, rank_zero_warn

from selfsup.imports import require

__all__ = ["RunReport", "probe_table"]

# Monitor keys ``{task}/{name}`` that are scores of a probe, in the order the table shows them.
_PROBE_KEYS = ("knn_acc", "linear_acc", "probe_test_acc", "probe_val_acc")


def _scalar(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def probe_table(
    rows: Mapping[str, Mapping[str, float]],
    title: str = "task",
    columns: list[str] | None = None,
) -> str:
    """A Markdown table: one row per task, one column per metric (blank when missing).

    Args:
        rows: Task -> metric -> value.
        title: Header of the first column.
        columns: Column order (default: metrics in order of first appearance).
    """
    if columns is None:
        columns = []
        for metrics in rows.values():
            columns += [m for m in metrics if m not in columns]
    lines = [
        "| " + " | ".join([title, *columns]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for task, metrics in rows.items():
        cells = [f"{metrics[c]:.4f}" if c in metrics else "" for c in columns]
        lines.append("| " + " | ".join([task, *cells]) + " |")
    return "\n".join(lines)


class RunReport(Callback):
    """Record per-task curves during training and write a report when fitting ends.

    Every ``every_n_steps`` optimiser steps it records each task's training loss
    (``train/{task}/loss``) and whatever monitors logged under ``{task}/...`` (RankMe from
    :class:`~selfsup.metrics.RankMeMonitor`, probe scores from
    :class:`~selfsup.metrics.ProbeMonitor` or a plugin's probe). At the end of ``fit`` it writes,
    in the run folder (``trainer.log_dir``, else ``default_root_dir``):

    * ``report.json``: the history and each task's final values;
    * ``report.md``: a table of each task's final probe scores, loss and RankMe (also printed);
    * ``curves.png``: one column per task, its loss curve on top and RankMe below.

    Args:
        every_n_steps: Recording period in optimiser steps (default 10).
        folder: Where to write (default None: the run folder).
        plot: Write ``curves.png`` (default True; needs matplotlib).

    Raises:
        ImportError: ``plot=True`` without matplotlib (with the pip command to fix it).
    """

    def __init__(self, every_n_steps: int = 10, folder: str | None = None, plot: bool = True):
        super().__init__()
        if isinstance(every_n_steps, bool) or int(every_n_steps) < 1:
            raise ValueError(f"every_n_steps must be a positive int, got {every_n_steps!r}.")
        if plot:
            require("matplotlib", "matplotlib", extra="selfsup-core[demo]")
        self.every_n_steps = int(every_n_steps)
        self.folder = folder
        self.plot = plot
        self.history: dict[str, dict[str, list[tuple[int, float]]]] = {}
        self.final: dict[str, dict[str, float]] = {}

    # -- recording ------------------------------------------------------------------------
    def _tasks(self, pl_module: LightningModule) -> list[str]:
        return list(getattr(pl_module, "task_names", [])) or ["model"]

    def _record(self, trainer: Trainer, pl_module: LightningModule) -> None:
        step = trainer.global_step
        metrics = trainer.callback_metrics
        for task in self._tasks(pl_module):
            series = self.history.setdefault(task, {})
            candidates = {"loss": metrics.get(f"train/{task}/loss")}
            for key, value in metrics.items():
                if key.startswith(f"{task}/"):
                    candidates[key.split("/", 1)[1]] = value
            for name, value in candidates.items():
                number = _scalar(value)
                if number is None:
                    continue
                points = series.setdefault(name, [])
                # monitors log every few steps: keep a point only when a value is new
                if not points or (points[-1][0] != step and points[-1][1] != number):
                    points.append((step, number))

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self._record(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, pl_module)

    # -- writing --------------------------------------------------------------------------
    def _folder(self, trainer: Trainer) -> Path:
        folder = self.folder or trainer.log_dir or trainer.default_root_dir
        return Path(folder)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record(trainer, pl_module)
        self.final = {
            task: {name: points[-1][1] for name, points in series.items() if points}
            for task, series in self.history.items()
        }
        self._write(trainer)

    @rank_zero_only
    def _write(self, trainer: Trainer) -> None:
        folder = self._folder(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        shown = [*_PROBE_KEYS, "loss", "rankme"]
        columns = [k for k in shown if any(k in values for values in self.final.values())]
        table = probe_table(self.final, columns=columns)
        steps = trainer.global_step
        text = f"# Run report\n\nFinal values after {steps} optimiser steps.\n\n{table}\n"
        _atomic_write(folder / "report.md", text)
        payload = {"steps": steps, "final": self.final, "history": self.history}
        _atomic_write(folder / "report.json", json.dumps(payload, indent=1))
        print(f"\n{table}\n")
        if self.plot:
            if any(self.history.values()):
                self._plot(folder / "curves.png")
                print(f"[RunReport] wrote {folder / 'report.md'} and {folder / 'curves.png'}")
            else:
                rank_zero_warn("RunReport: nothing was recorded, so there is no plot.")

    def _plot(self, path: Path) -> None:
        matplotlib = require("matplotlib", "matplotlib", extra="selfsup-core[demo]")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        tasks = list(self.history)
        fig, axes = plt.subplots(2, len(tasks), figsize=(4 * len(tasks), 6), squeeze=False)
        for column, task in enumerate(tasks):
            for row, (name, label) in enumerate((("loss", "training loss"), ("rankme", "RankMe"))):
                ax = axes[row][column]
                points = self.history[task].get(name, [])
                if points:
                    ax.plot([p[0] for p in points], [p[1] for p in points])
                else:
                    ax.text(0.5, 0.5, "not logged", ha="center", va="center")
                ax.set_title(f"{task}: {label}")
                ax.set_xlabel("step")
        fig.tight_layout()
        tmp = path.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, path)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # a crash never leaves a half-written report

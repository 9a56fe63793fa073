"""Lightning callback: GraphMAE's node-classification linear probe during/after pre-training."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from selfsup.metrics import frozen_eval
from selfsup_graph.evaluation.node_probe import NodeProbeResult, node_linear_probe

__all__ = ["NodeProbeMonitor", "embed_nodes"]


def embed_nodes(method: Any, graph: Any) -> torch.Tensor:
    """Frozen node embeddings of a full graph: ``method.embed`` in eval mode, no gradients.

    Every submodule's train/eval flag is restored afterwards.
    """
    with frozen_eval(method):
        return method.embed(graph).detach()


class NodeProbeMonitor(Callback):
    """Probe node embeddings with :func:`~selfsup_graph.evaluation.node_linear_probe`.

    For every task whose data module has ``probe_graph()`` (a graph with ``y`` and
    ``train_mask``/``val_mask``/``test_mask``, e.g.
    :class:`~selfsup_graph.data.PlanetoidDataModule`), embeds the full graph with the task's
    method and fits GraphMAE's probe (train on the train mask, select the epoch on validation,
    report test). Runs every ``every_n_epochs`` training epochs (0: only at the end) and once at
    the end of fit; logs ``"{task}/probe_test_acc"``, ``"{task}/probe_val_acc"`` and
    ``"{task}/probe_final_test_acc"`` and prints a summary line. Latest results are in
    :attr:`results`.

    Args:
        every_n_epochs: Probe period in epochs; 0 (default) probes only at the end of fit.
        lr: Probe learning rate (default 0.01, GraphMAE Cora).
        weight_decay: Probe weight decay (default 1e-4).
        epochs: Probe epochs (default 300).
        seed: Seed of the probe initialisation (default None: the global RNG, as GraphMAE).

    Raises:
        TypeError: At fit start when the module does not expose ``task_datamodules()`` and
            ``tasks`` (train with :class:`selfsup.experiment.SSLModule`).
    """

    def __init__(
        self,
        every_n_epochs: int = 0,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        epochs: int = 300,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0, got {every_n_epochs}.")
        self.every_n_epochs = int(every_n_epochs)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.epochs = int(epochs)
        self.seed = seed
        #: Latest results per task.
        self.results: dict[str, NodeProbeResult] = {}
        self._last_step: int | None = None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not callable(getattr(pl_module, "task_datamodules", None)) or not hasattr(
            pl_module, "tasks"
        ):
            raise TypeError(
                "NodeProbeMonitor needs a selfsup.experiment.SSLModule (task_datamodules() and "
                f"tasks); got {type(pl_module).__name__}."
            )
        self._last_step = None

    def probe(self, pl_module: LightningModule) -> dict[str, NodeProbeResult]:
        """Probe every task with a ``probe_graph()``; returns and stores the results."""
        results = {}
        for name, data in pl_module.task_datamodules().items():  # type: ignore[operator]
            make_graph = getattr(data, "probe_graph", None)
            if not callable(make_graph):
                continue
            graph = make_graph().to(pl_module.device)
            method = pl_module.tasks[name].method  # type: ignore[index]
            z = embed_nodes(method, graph)
            results[name] = node_linear_probe(
                z,
                graph.y,
                graph.train_mask,
                graph.val_mask,
                graph.test_mask,
                lr=self.lr,
                weight_decay=self.weight_decay,
                epochs=self.epochs,
                seed=self.seed,
            )
        self.results.update(results)
        return results

    def _log(self, trainer: Trainer, results: dict[str, NodeProbeResult]) -> None:
        metrics = {}
        for task, r in results.items():
            metrics[f"{task}/probe_test_acc"] = r.test_acc
            metrics[f"{task}/probe_val_acc"] = r.val_acc
            metrics[f"{task}/probe_final_test_acc"] = r.final_test_acc
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})
        if trainer.is_global_zero and results:
            parts = [
                f"{t}: test_acc={r.test_acc:.4f} (val {r.val_acc:.4f}, "
                f"final {r.final_test_acc:.4f})"
                for t, r in results.items()
            ]
            print(f"[NodeProbeMonitor] epoch {trainer.current_epoch} | " + " | ".join(parts))

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.every_n_epochs and epoch % self.every_n_epochs == 0:
            self._last_step = trainer.global_step
            self._log(trainer, self.probe(pl_module))

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._last_step != trainer.global_step:
            self._last_step = trainer.global_step
            self._log(trainer, self.probe(pl_module))

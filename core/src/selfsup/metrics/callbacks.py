"""Lightning callbacks that monitor representation quality during training.

Both callbacks talk to the LightningModule through three methods only (the
experiment layer's ``SSLModule`` implements them; any LightningModule that does
works too):

- ``embed_batch(batch) -> dict[str, Tensor]``: task name -> ``(B, D)`` features
  of one training batch (used by :class:`RankMeMonitor`);
- ``task_datamodules() -> dict[str, LightningDataModule]``: task name -> its data
  module; a data module that defines ``probe_dataloaders() -> (train_loader,
  test_loader)`` yielding ``(inputs, labels)`` batches is probed (used by
  :class:`ProbeMonitor`);
- ``embed_inputs(task_name, inputs) -> Tensor``: ``(B, D)`` features of the
  ``inputs`` of one probe batch (used by :class:`ProbeMonitor`).

Features are always computed under ``torch.no_grad`` with every submodule in eval
mode (so BatchNorm statistics are not updated); each submodule's own train/eval
flag is restored afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from selfsup.distributed import broadcast_from_zero, gather_rows
from selfsup.metrics.frozen import frozen_eval
from selfsup.metrics.probes import ClassificationProbe, Probe, ProbeContext, check_features
from selfsup.metrics.rankme import rankme

__all__ = ["ProbeMonitor", "RankMeMonitor"]


def _require(pl_module: LightningModule, names: tuple[str, ...], owner: str) -> None:
    missing = [n for n in names if not callable(getattr(pl_module, n, None))]
    if missing:
        raise TypeError(
            f"{owner} needs the LightningModule to define {', '.join(missing)}(); "
            f"{type(pl_module).__name__} does not. Train with selfsup.experiment.SSLModule "
            "or implement these methods (see selfsup.metrics.callbacks)."
        )


class RankMeMonitor(Callback):
    """Log RankMe (:func:`~selfsup.metrics.rankme`) of training embeddings, label-free.

    Every ``every_n_steps`` optimiser steps, logs ``"{task}/{key}"`` = RankMe of the
    most recent ``max_samples`` embeddings returned by
    ``pl_module.embed_batch(batch)`` on training batches (arXiv 2210.02885:
    ``exp`` of the entropy of the normalised singular values; about
    ``min(N, D)`` for a full-rank representation, about 1 when collapsed).

    To limit the cost of the extra forward pass, embeddings are only computed on
    the batches just before each logging step (enough of them to fill
    ``max_samples``, estimated from the previous batch sizes); older rows are
    dropped first. The embeddings are kept on their device.

    Distributed: the ranks' buffers are gathered (each rank embeds only its own batches), so
    RankMe sees ``W x max_samples`` rows at most and every rank logs the same value.

    Args:
        every_n_steps: Log every this many optimiser steps (default 500).
        max_samples: Embeddings per task entering RankMe (default 25,600, the
            paper's value). Use many more samples than feature dimensions.
        key: Metric name suffix (default ``"rankme"``).
        eps: ``eps`` of :func:`~selfsup.metrics.rankme` (default ``1e-7``).
        prog_bar: Also show the value in the progress bar (default ``False``).

    Shapes:
        - ``embed_batch(batch)`` values: ``(B, D)`` per task.

    Raises:
        ValueError: for non-positive ``every_n_steps``/``max_samples``, or when
            ``embed_batch`` does not return a mapping of ``(B, D)`` tensors.
        TypeError: at fit start when the module lacks ``embed_batch``.
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        max_samples: int = 25_600,
        key: str = "rankme",
        eps: float = 1e-7,
        prog_bar: bool = False,
    ) -> None:
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}.")
        if max_samples < 2:
            raise ValueError(
                f"max_samples must be >= 2 (RankMe needs two rows), got {max_samples}."
            )
        if not key or "/" in key:
            raise ValueError(f"key must be a non-empty name without '/', got {key!r}.")
        self.every_n_steps = int(every_n_steps)
        self.max_samples = int(max_samples)
        self.key = key
        self.eps = float(eps)
        self.prog_bar = prog_bar
        self._buffers: dict[str, list[Tensor]] = {}
        self._rows_per_batch: int | None = None
        self._last_logged_step = -1
        self._warned_small = False

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        _require(pl_module, ("embed_batch",), "RankMeMonitor")
        self._buffers = {}
        self._rows_per_batch = None
        self._last_logged_step = -1

    def _should_collect(self, step: int) -> bool:
        if self._rows_per_batch is None:
            return True
        window = math.ceil(self.max_samples / max(1, self._rows_per_batch))
        steps_left = (-step) % self.every_n_steps  # 0 on a logging step
        return steps_left < window

    def _collect(self, pl_module: LightningModule, batch: Any) -> None:
        with frozen_eval(pl_module):
            out = pl_module.embed_batch(batch)
        if not isinstance(out, Mapping):
            raise ValueError(
                f"embed_batch must return a dict task name -> (B, D) tensor, "
                f"got {type(out).__name__}."
            )
        rows = []
        for task, z in out.items():
            z = check_features(f"embed_batch()[{task!r}]", z)
            buffer = self._buffers.setdefault(task, [])
            buffer.append(z)
            if sum(b.shape[0] for b in buffer) > self.max_samples:
                self._buffers[task] = [torch.cat(buffer)[-self.max_samples :]]
            rows.append(z.shape[0])
        if rows:
            self._rows_per_batch = min(rows)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if self._should_collect(step):
            self._collect(pl_module, batch)
        if step > 0 and step % self.every_n_steps == 0 and step != self._last_logged_step:
            self._last_logged_step = step
            self._log(pl_module)

    def _log(self, pl_module: LightningModule) -> None:
        for task, buffer in self._buffers.items():
            if not buffer:
                continue
            z = gather_rows(torch.cat(buffer))
            if z.shape[0] < 2:
                continue
            if z.shape[0] < z.shape[1] and not self._warned_small:
                self._warned_small = True
                rank_zero_warn(
                    f"RankMeMonitor: {task!r} has {z.shape[0]} samples for {z.shape[1]} "
                    "dimensions; RankMe is capped at min(N, D): raise max_samples."
                )
            value = float(rankme(z, eps=self.eps))
            pl_module.log(
                f"{task}/{self.key}",
                value,
                on_step=True,
                on_epoch=False,
                prog_bar=self.prog_bar,
                batch_size=1,
            )
        self._buffers = {}


class ProbeMonitor(Callback):
    """Score frozen embeddings with probes, per task, during and after training.

    For every task of ``pl_module.task_datamodules()`` and every probe in ``probes``
    (:class:`~selfsup.metrics.probes.Probe`: classification kNN/linear, the graph plugin's node
    probe, the recsys plugin's retrieval probe, ...), the probe gets the task's method, data
    module and ``pl_module.embed_inputs`` and returns ``{metric: value}`` (or ``None`` when it
    does not apply to that task). Probes run under :func:`~selfsup.metrics.frozen_eval` (eval
    mode, no gradients, modes restored). Every value is logged as ``"{task}/{metric}"``.

    When: at the end of validation every ``every_n_epochs`` epochs; without a validation loop, at
    the end of those training epochs; ``every_n_epochs=0`` probes only at the end of fit. At fit
    end the final weights are probed once more if they have not been (values go to the loggers
    and ``trainer.callback_metrics``) and rank zero prints a one-line summary. The latest values
    are kept in :attr:`results`.

    Without ``probes``, one :class:`~selfsup.metrics.probes.ClassificationProbe` is built from
    ``probe``, ``k``, ``temperature``, ``linear_kwargs`` and ``chunk_size`` (the arguments this
    monitor always had), so ``ProbeMonitor(probe="both")`` keeps logging ``"{task}/knn_acc"``
    and ``"{task}/linear_acc"``.

    Distributed: the classification probe deals the probe batches over the ranks and gathers
    the embeddings back in order (the same features one process would compute, each rank
    embedding ``1/W``); every probe's values are then taken from rank 0 on every rank, so all
    ranks log one value (``sync_dist`` with ``max`` over identical numbers, exact).

    Args:
        probes: The probes to run (default: the classification probe below).
        every_n_epochs: Probe every this many epochs; 0 only at the end of fit (default 1).
        k: Neighbours of the default kNN probe (default 20).
        probe: The default probe's kind: ``"knn"`` (default), ``"linear"`` or ``"both"``.
        temperature: kNN vote temperature of the default probe (default 0.07).
        linear_kwargs: Forwarded to :func:`~selfsup.metrics.linear_probe` by the default probe.
        chunk_size: Query rows per chunk of the default kNN probe (default 1024).

    Raises:
        ValueError: for a bad ``probe``/``every_n_epochs``/``k``, or probe batches that are not
            ``(inputs, labels)`` pairs.
        TypeError: at fit start when the module lacks ``task_datamodules`` or ``embed_inputs``.

    Examples:
        >>> from selfsup.metrics.probes import ClassificationProbe
        >>> monitor = ProbeMonitor(probes=[ClassificationProbe("both", k=10)], every_n_epochs=5)
    """

    def __init__(
        self,
        probes: list[Probe] | None = None,
        every_n_epochs: int = 1,
        k: int = 20,
        probe: str = "knn",
        temperature: float = 0.07,
        linear_kwargs: Mapping[str, Any] | None = None,
        chunk_size: int = 1024,
    ) -> None:
        super().__init__()
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0, got {every_n_epochs}.")
        default = ClassificationProbe(probe, k, temperature, linear_kwargs, chunk_size)
        self.probes: list[Probe] = list(probes) if probes else [default]
        for p in self.probes:
            if not isinstance(p, Probe):
                raise TypeError(
                    f"probes must be selfsup.metrics.probes.Probe instances, got "
                    f"{type(p).__name__}; wrap your scoring function in a Probe subclass."
                )
        self.every_n_epochs = int(every_n_epochs)
        #: Latest probe values: task -> {metric: value}.
        self.results: dict[str, dict[str, float]] = {}
        self._last_probed_step: int | None = None
        self._warned_no_probe = False

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        _require(pl_module, ("task_datamodules", "embed_inputs"), type(self).__name__)
        self._last_probed_step = None

    def _due(self, trainer: Trainer) -> bool:
        return self.every_n_epochs > 0 and (trainer.current_epoch + 1) % self.every_n_epochs == 0

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not self._due(trainer):
            return
        self._probe_and_log(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Validation (when there is any) has already run for this epoch.
        if self._due(trainer) and self._last_probed_step != trainer.global_step:
            self._probe_and_log(trainer, pl_module)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._last_probed_step != trainer.global_step:
            metrics = self._flat(self.probe_now(trainer, pl_module))
            if metrics:
                for logger in trainer.loggers:
                    logger.log_metrics(metrics, step=trainer.global_step)
                trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})
        if trainer.is_global_zero and self.results:
            parts = [
                f"{task}: " + " ".join(f"{name}={value:.4f}" for name, value in values.items())
                for task, values in self.results.items()
            ]
            print(f"[{type(self).__name__}] step {trainer.global_step} | " + " | ".join(parts))

    @staticmethod
    def _flat(results: dict[str, dict[str, float]]) -> dict[str, float]:
        return {
            f"{task}/{name}": v for task, values in results.items() for name, v in values.items()
        }

    def _probe_and_log(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for name, value in self._flat(self.probe_now(trainer, pl_module)).items():
            # identical on every rank (broadcast below): the reduction only silences
            # Lightning's epoch-level sync warning and cannot change the value
            pl_module.log(
                name,
                value,
                on_step=False,
                on_epoch=True,
                batch_size=1,
                sync_dist=True,
                reduce_fx="max",
            )

    def probe_now(
        self, trainer: Trainer, pl_module: LightningModule
    ) -> dict[str, dict[str, float]]:
        """Run every probe on every task now; returns and stores ``{task: {metric: value}}``."""
        self._last_probed_step = trainer.global_step
        tasks = getattr(pl_module, "tasks", None) or {}
        results: dict[str, dict[str, float]] = {}
        with frozen_eval(pl_module):
            for task, data in pl_module.task_datamodules().items():
                ctx = ProbeContext(
                    task=task,
                    method=tasks[task].method if task in tasks else None,
                    data=data,
                    embed=lambda inputs, t=task: pl_module.embed_inputs(t, inputs),
                    device=pl_module.device,
                )
                values: dict[str, float] = {}
                for probe in self.probes:
                    out = probe(ctx)
                    if out:
                        values.update({name: float(v) for name, v in out.items()})
                # a probe may draw random numbers (linear probe init): one rank's result wins
                values = broadcast_from_zero(values)
                if values:
                    results[task] = values
        if not results and not self._warned_no_probe:
            self._warned_no_probe = True
            rank_zero_warn(
                f"{type(self).__name__}: no probe applies to any task (e.g. no data module "
                "defines probe_dataloaders()); nothing to probe."
            )
        self.results.update(results)
        return results

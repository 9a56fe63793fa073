"""``SSLModule``: trains one task or several tasks of different modalities jointly.

One LightningModule kept whole (~450 lines): its hooks (set-up and binding, loaders and task
sampling, steps and the non-finite policy, teacher updates, optimiser) share the task table;
the optimiser's groups are in :mod:`selfsup.experiment.param_groups`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch import Callback, LightningDataModule, LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import CombinedLoader
from lightning.pytorch.utilities.model_helpers import is_overridden
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from torch import Tensor, nn

from selfsup.checks import finite_checks_enabled, iter_tensors, repeated
from selfsup.experiment.checkpoint_io import AtomicCheckpointIO
from selfsup.experiment.ddp import configure_ddp, unused_parameter_reasons
from selfsup.experiment.fsdp import shard_transformer_blocks, unsharded
from selfsup.experiment.gradient_balancing import (
    BALANCING_RULES,
    balance_losses,
    shared_parameters,
)
from selfsup.experiment.param_groups import (
    NO_DECAY_RULES,
    method_param_groups,
    split_weight_decay,
)
from selfsup.experiment.resumable import derive_seed, make_resumable, seed_everything_for_step
from selfsup.experiment.sampling import SAMPLING_POLICIES, TaskSampledLoader
from selfsup.experiment.task import Task
from selfsup.experiment.teacher_updates import TeacherUpdates
from selfsup.teachers import EMATeacher

__all__ = ["SSLModule"]

_LOADER_MODES = ("max_size_cycle", "min_size", "max_size")


def _batch_size(batch: Any) -> int:
    """First dimension of the first tensor found in a batch (1 when none)."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, Mapping):
        items: Iterable[Any] = batch.values()
    elif isinstance(batch, list | tuple):
        items = batch
    else:
        num = getattr(batch, "num_nodes", None) or getattr(batch, "num_graphs", None)
        return int(num) if num else 1
    for item in items:
        if isinstance(item, Tensor | Mapping | list | tuple):
            return _batch_size(item)
    return 1


class SSLModule(LightningModule):
    """Lightning module training one or several :class:`~selfsup.experiment.Task` s.

    The joint objective is :math:`\\sum_t w_t \\, \\mathcal{L}_t`. Each task's
    data module provides its own loaders; training batches arrive as one dict
    ``{task_name: batch}`` built by Lightning's ``CombinedLoader`` (``loader_mode``
    picks how loaders of different lengths are combined). Every entry a method
    returns is logged as ``train/{task}/{key}`` (``val/...`` in validation); under DDP the
    logged value is the mean over ranks (``sync_dist``, except with ``nonfinite="skip"``).

    EMA teachers anywhere inside the tasks are updated after each optimiser step
    (once per step under gradient accumulation) with the momentum schedule they
    were built with, using ``trainer.estimated_stepping_batches`` as the horizon
    (by :class:`~selfsup.experiment.teacher_updates.TeacherUpdates`, which the module
    attaches, so checkpoints hold the updated teachers).

    Args:
        tasks: Tasks with distinct names (a single ``Task`` is accepted too).
        shared: Modules shared between tasks by key; see ``Task(share=...)``.
        optimizer: Builds the optimiser from parameter groups (biases and norms
            have ``weight_decay=0`` unless ``no_weight_decay="none"``; a method's own
            :meth:`~selfsup.experiment.Method.optimizer_groups`, e.g. layer-wise learning-rate
            decay, come first with their ``lr_scale`` applied). Default: ``AdamW(lr=1e-3)``.
        scheduler: Optional learning-rate scheduler factory, stepped per
            optimiser step.
        loader_mode: With ``sampling="all"``: ``"max_size_cycle"`` (default: short
            loaders cycle until the longest ends), ``"min_size"`` or ``"max_size"``
            (exhausted tasks sit out).
        sampling: ``"all"`` (default: every step holds a batch of every task) or one
            task per step drawn by ``"round_robin"``, ``"proportional"`` (to dataset
            size) or ``"temperature"`` (``p_t ~ n_t^(1/tau)``); see
            :mod:`selfsup.experiment.sampling`.
        sampling_temperature: ``tau`` of ``sampling="temperature"`` (default 2.0).
        steps_per_epoch: Steps per epoch under a one-task-per-step policy (default:
            the sum of the task loaders' lengths).
        sampling_seed: Seed of the task sequence (epoch ``e`` uses ``seed + e``).
        nonfinite: What NaN/inf does, checked at three points of every step: a task's input
            batch (before the method sees it, so BatchNorm statistics stay finite), a task's
            loss, and the gradients (before the optimiser step). ``"raise"`` (default) stops
            with an error naming the task, input or parameters before anything is updated or
            written. ``"skip"`` leaves a task with a bad input or loss out of this step (counted
            in ``train/{task}/nonfinite_skips``; the other tasks train) and turns a step with
            non-finite gradients into no update at all (counted in
            ``train/nonfinite_grad_skips``), so non-finite weights never reach a checkpoint. A
            step where every task is skipped takes no optimiser step — under DDP every rank
            must skip alike, so prefer ``"raise"`` there.
        no_weight_decay: Which parameters the optimiser's weight decay skips:
            ``"bias_and_norm"`` (default; every parameter with ``ndim <= 1``, as in BYOL,
            MAE and timm) or ``"none"`` (decay everything, as the GraphMAE paper's Adam does).
        exact_resume: Make a run killed mid-epoch resume from its last checkpoint to the very
            weights the uninterrupted run reaches (with ``Trainer(deterministic=True)``): every
            task's training loader becomes a :class:`~selfsup.experiment.ResumableLoader`
            (order and data randomness from ``sampling_seed``, position saved in checkpoints)
            and every step re-seeds torch, NumPy and ``random`` from ``(sampling_seed, epoch,
            batch)``. Task loaders must be plain map-style ``DataLoader`` s or
            ``ResumableLoader`` s. Default ``False``: the data modules' loaders as they are.
        balancing: How the losses of tasks present in one step meet on the parameters they
            share (Task ``share=``): ``"sum"`` (default: the weighted sum), ``"mgda"`` (the
            min-norm weights of the shared gradients scale the task losses, MGDA / ParetoGNN)
            or ``"pcgrad"`` (conflicting components of the shared gradients projected away;
            task-specific parameters keep their own gradients). See
            :mod:`selfsup.experiment.gradient_balancing`; one extra backward per task through
            the shared parameters; the weights are logged as ``train/{task}/balance_weight``.
    """

    def __init__(
        self,
        tasks: list[Task],
        shared: Mapping[str, nn.Module] | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = None,
        loader_mode: str = "max_size_cycle",
        no_weight_decay: str = "bias_and_norm",
        sampling: str = "all",
        sampling_temperature: float = 2.0,
        steps_per_epoch: int | None = None,
        sampling_seed: int = 0,
        nonfinite: str = "raise",
        exact_resume: bool = False,
        balancing: str = "sum",
    ) -> None:
        super().__init__()
        task_list = [tasks] if isinstance(tasks, Task) else list(tasks)  # type: ignore[list-item]
        if not task_list:
            raise ValueError("SSLModule needs at least one Task.")
        duplicated = repeated(t.name for t in task_list)
        if duplicated:
            raise ValueError(f"task names must be unique; repeated: {', '.join(duplicated)}.")
        if loader_mode not in _LOADER_MODES:
            raise ValueError(f"loader_mode must be one of {_LOADER_MODES}, got {loader_mode!r}.")
        if no_weight_decay not in NO_DECAY_RULES:
            raise ValueError(
                f"no_weight_decay must be one of {NO_DECAY_RULES}, got {no_weight_decay!r}: "
                "'bias_and_norm' exempts biases and norm weights, 'none' decays every parameter."
            )
        self.no_weight_decay = no_weight_decay
        if sampling not in SAMPLING_POLICIES:
            raise ValueError(f"sampling must be one of {SAMPLING_POLICIES}, got {sampling!r}.")
        if sampling != "all" and not (sampling_temperature > 0):
            raise ValueError(f"sampling_temperature must be > 0, got {sampling_temperature}.")
        if steps_per_epoch is not None and (
            isinstance(steps_per_epoch, bool) or int(steps_per_epoch) < 1
        ):
            raise ValueError(f"steps_per_epoch must be a positive int, got {steps_per_epoch!r}.")
        self.sampling = sampling
        self.sampling_temperature = float(sampling_temperature)
        self.steps_per_epoch = steps_per_epoch
        self.sampling_seed = int(sampling_seed)
        self._sampled_loader: TaskSampledLoader | None = None
        if nonfinite not in ("raise", "skip"):
            raise ValueError(f"nonfinite must be 'raise' or 'skip', got {nonfinite!r}.")
        self.nonfinite = nonfinite
        if balancing not in BALANCING_RULES:
            raise ValueError(f"balancing must be one of {BALANCING_RULES}, got {balancing!r}.")
        self.balancing = balancing
        self._balanced_grad: tuple[list[nn.Parameter], Tensor] | None = None
        # the parameters a step's tasks share, per set of tasks: fixed once training runs
        self._shared_params: dict[tuple[str, ...], list[nn.Parameter]] = {}
        self.exact_resume = bool(exact_resume)
        self._nonfinite_skips: dict[str, int] = {}
        self._nonfinite_grad_skips = 0
        self._sharded = False
        self.tasks = nn.ModuleDict({t.name: t for t in task_list})
        self.shared = nn.ModuleDict(dict(shared or {}))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.loader_mode = loader_mode
        self._val_names: list[str] = []
        for task in task_list:
            self._apply_sharing(task)

    # -- construction -------------------------------------------------------
    def _apply_sharing(self, task: Task) -> None:
        for attribute, key in task.share.items():
            if key not in self.shared:
                known = ", ".join(sorted(self.shared)) or "(none)"
                raise KeyError(
                    f"task {task.name!r} shares {attribute!r} with {key!r}, but SSLModule "
                    f"has no shared module {key!r}; shared modules: {known}."
                )
            owner: nn.Module = task.method
            *path, leaf = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            if not isinstance(getattr(owner, leaf, None), nn.Module):
                raise AttributeError(
                    f"task {task.name!r}: {type(task.method).__name__}.{attribute} is not a "
                    "submodule, so it cannot be replaced by a shared module."
                )
            old, new = getattr(owner, leaf), self.shared[key]
            setattr(owner, leaf, new)
            for teacher in task.method.modules():
                if isinstance(teacher, EMATeacher) and teacher.student is old:
                    teacher.restart_from(new)

    @property
    def _sync_logs(self) -> bool:
        # Under DDP every logged value is the mean over ranks (the loss one process on the whole
        # batch logs). Not with nonfinite="skip": a rank that skips a task would not join that
        # value's all-reduce.
        return self.nonfinite == "raise"

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks.keys())

    def task_datamodules(self) -> dict[str, LightningDataModule]:
        """Each task's data module by task name."""
        return {name: task.data for name, task in self.tasks.items()}

    # -- data ---------------------------------------------------------------
    def prepare_data(self) -> None:
        for data in self.task_datamodules().values():
            data.prepare_data()

    def setup(self, stage: str) -> None:
        """Set up every task's data module, then let its method bind to it.

        Per task, in order: ``data.setup(stage)``, then ``method.bind_data(data, stage)``
        (:meth:`~selfsup.experiment.Method.bind_data`), so a method built from its data's
        schema exists before the optimiser is configured and before a checkpoint is restored.
        Then, under DDP, ``find_unused_parameters`` is turned on when a step may leave
        parameters without a gradient (:mod:`selfsup.experiment.ddp` says when).
        """
        self._shared_params.clear()  # bind_data may build or rebuild modules
        self._use_atomic_checkpoints()
        for task in self.tasks.values():
            task.data.trainer = self.trainer
            task.data.setup(stage)
            task.method.bind_data(task.data, stage)
        # after bind_data (which may build layers), before the strategy wraps the model
        configure_ddp(
            self.trainer.strategy,
            unused_parameter_reasons(self.tasks, self.sampling, self.loader_mode),
        )

    def _use_atomic_checkpoints(self) -> None:
        # Lightning restores ckpt_path after this hook, so the swap covers loading too; a
        # CheckpointIO the user configured is left alone.
        strategy = self.trainer.strategy
        if type(strategy.checkpoint_io) is TorchCheckpointIO:
            strategy.checkpoint_io = AtomicCheckpointIO()

    def train_dataloader(self) -> CombinedLoader:
        loaders = {name: data.train_dataloader() for name, data in self.task_datamodules().items()}
        if self.exact_resume:
            loaders = {
                name: make_resumable(
                    loader, derive_seed(self.sampling_seed, "data", name), f"task {name!r}"
                )
                for name, loader in loaders.items()
            }
        if self.sampling == "all":
            return CombinedLoader(loaders, mode=self.loader_mode)
        # Lightning iterates this very object (it wraps only non-CombinedLoaders).
        self._sampled_loader = TaskSampledLoader(
            loaders,
            self.sampling,
            temperature=self.sampling_temperature,
            steps_per_epoch=self.steps_per_epoch,
            seed=self.sampling_seed,
            limit_batches=self.trainer.limit_train_batches if self._trainer else 1.0,
        )
        return self._sampled_loader

    def on_train_epoch_start(self) -> None:
        if self._sampled_loader is not None:
            self._sampled_loader.epoch = self.current_epoch  # same task sequence after a resume

    def _eval_loaders(self, hook: str) -> CombinedLoader | list[Any]:
        loaders = {
            name: getattr(data, hook)()
            for name, data in self.task_datamodules().items()
            if is_overridden(hook, data, LightningDataModule)
        }
        self._val_names = list(loaders)
        return CombinedLoader(loaders, mode="sequential") if loaders else []

    def val_dataloader(self) -> CombinedLoader | list[Any]:
        return self._eval_loaders("val_dataloader")

    def test_dataloader(self) -> CombinedLoader | list[Any]:
        return self._eval_loaders("test_dataloader")

    # -- steps --------------------------------------------------------------
    def _task_losses(self, name: str, batch: Any) -> dict[str, Tensor]:
        # through forward (= training_losses): FSDP2 gathers and reduces in its hooks
        out = self.tasks[name].method(batch)
        if not isinstance(out, Mapping) or "loss" not in out:
            raise TypeError(
                f"task {name!r}: {type(self.tasks[name].method).__name__}.training_losses must "
                f"return a dict with a 'loss' entry, got {type(out).__name__}"
                + (f" with keys {sorted(out)}" if isinstance(out, Mapping) else "")
                + "."
            )
        loss = out["loss"]
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise TypeError(f"task {name!r}: 'loss' must be a scalar tensor, got {loss!r:.80}.")
        return dict(out)

    def _log_outputs(self, prefix: str, name: str, out: Mapping[str, Tensor], batch: Any) -> None:
        size = _batch_size(batch)
        for key, value in out.items():
            if isinstance(value, Tensor) and value.dim() == 0:
                self.log(
                    f"{prefix}/{name}/{key}",
                    value.detach(),
                    batch_size=size,
                    add_dataloader_idx=False,
                    # each task's loss next to the total in the progress bar of multi-task runs
                    prog_bar=prefix == "train" and key == "loss" and len(self.tasks) > 1,
                    sync_dist=self._sync_logs,
                )

    def _finite_inputs(self, batch: Mapping[str, Any]) -> dict[str, bool]:
        """Whether each present task's input tensors are all finite (one host sync)."""
        names, flags = [], []
        for name, task in self.tasks.items():
            if task.method.nan_inputs_allowed:
                continue
            tensors = [t for _, t in iter_tensors(batch.get(name)) if t.is_floating_point()]
            if tensors:
                names.append(name)
                flags.append(torch.stack([torch.isfinite(t).all() for t in tensors]).all())
        return dict(zip(names, torch.stack(flags).tolist(), strict=True)) if flags else {}

    def _nonfinite_input(self, name: str, task_batch: Any, batch_idx: int) -> None:
        bad = [
            f"{path} ({int((~torch.isfinite(t)).sum())} of {t.numel()})"
            for path, t in iter_tensors(task_batch)
            if t.is_floating_point() and not bool(torch.isfinite(t).all())
        ]
        where = (
            f"task {name!r}: the input batch at step {self.global_step} (batch {batch_idx}) "
            f"holds NaN/inf values in {', '.join(bad[:4])}"
        )
        if self.nonfinite == "raise":
            raise FloatingPointError(
                f"{where}. Clean or impute the data (the data module reads it as given), or pass "
                "nonfinite='skip' to drop such batches of that task and keep training."
            )
        self._count_skip(name, f"{where}; skipping that batch (nonfinite='skip').")

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor | None:
        outs: dict[str, dict[str, Tensor]] = {}
        finite_inputs = self._finite_inputs(batch) if finite_checks_enabled() else {}
        for name in self.tasks:
            task_batch = batch.get(name)
            if task_batch is None:  # not drawn this step, or exhausted (loader_mode="max_size")
                continue
            if not finite_inputs.get(name, True):
                self._nonfinite_input(name, task_batch, batch_idx)
                continue
            outs[name] = self._task_losses(name, task_batch)
        if not outs:
            if any(not ok for ok in finite_inputs.values()):
                return None  # every task present had non-finite inputs and was skipped
            raise RuntimeError("training batch held no task's data; check the data modules.")
        # One host sync for all tasks: which losses are finite.
        finite = torch.stack([out["loss"].detach().isfinite() for out in outs.values()]).tolist()
        total: Tensor | None = None
        for (name, out), ok in zip(outs.items(), finite, strict=True):
            if not ok:
                self._handle_nonfinite(name, out["loss"], batch_idx)
                continue
            self._log_outputs("train", name, out, batch[name])
            weighted = self.tasks[name].weight * out["loss"]
            total = weighted if total is None else total + weighted
        if total is None:  # every task of this step was skipped: Lightning skips the step
            return None
        kept = [n for (n, _), ok in zip(outs.items(), finite, strict=True) if ok]
        if self.balancing != "sum" and len(kept) >= 2:
            total = self._balance(kept, outs)
        self.log(
            "train/loss", total.detach(), prog_bar=True, batch_size=1, sync_dist=self._sync_logs
        )
        return total

    def _balance(self, names: list[str], outs: Mapping[str, Mapping[str, Tensor]]) -> Tensor:
        """The step's loss under the balancing rule; PCGrad's shared gradient is set aside for
        :meth:`on_after_backward`."""
        key = tuple(names)
        if key not in self._shared_params:
            self._shared_params[key] = shared_parameters([self.tasks[n].method for n in names])
        step = balance_losses(
            self.balancing,
            [self.tasks[n].weight * outs[n]["loss"] for n in names],
            self._shared_params[key],
            derive_seed(self.sampling_seed, "pcgrad", self.global_step),
        )
        self._balanced_grad = step.shared_gradient
        for name, w in zip(names, step.weights, strict=True):
            self.log(f"train/{name}/balance_weight", w, batch_size=1, sync_dist=self._sync_logs)
        return step.loss

    def on_after_backward(self) -> None:
        """PCGrad: the shared parameters take the projected gradient (after DDP's reduction;
        every rank computed it from the same averaged task gradients)."""
        if self._balanced_grad is None:
            return
        shared, flat = self._balanced_grad
        self._balanced_grad = None
        if self.trainer.accumulate_grad_batches > 1:
            raise RuntimeError(
                "balancing='pcgrad' sets the shared gradients of each step and cannot combine "
                "with gradient accumulation; use accumulate_grad_batches=1 or balancing='mgda'."
            )
        # under fp16 mixed precision the backward's gradients carry the loss scale
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        if scaler is not None:
            flat = flat * scaler.get_scale()
        offset = 0
        for p in shared:
            n = p.numel()
            value = flat[offset : offset + n].view_as(p).to(p.dtype)
            p.grad = value.clone() if p.grad is None else p.grad.copy_(value)
            offset += n

    def _handle_nonfinite(self, name: str, loss: Tensor, batch_idx: int) -> None:
        where = f"task {name!r} returned a non-finite loss ({loss.item()}) at step "
        where += f"{self.global_step} (batch {batch_idx})"
        if self.nonfinite == "raise":
            raise FloatingPointError(
                f"{where}. Lower its learning rate or loss weight, check its data for NaN/inf, "
                "or pass nonfinite='skip' to drop such steps of that task and keep training "
                "the others."
            )
        self._count_skip(name, f"{where}; skipping it for this step (nonfinite='skip').")

    def _count_skip(self, name: str, warning: str) -> None:
        self._nonfinite_skips[name] = self._nonfinite_skips.get(name, 0) + 1
        self.log(f"train/{name}/nonfinite_skips", float(self._nonfinite_skips[name]), batch_size=1)
        if self._nonfinite_skips[name] == 1:
            rank_zero_warn(warning)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Check the gradients before they are applied (``nonfinite`` policy)."""
        if not finite_checks_enabled():
            return
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return
        # one fused norm and one host sync; only a non-finite norm looks closer (a norm can
        # also overflow on huge but finite gradients)
        total = torch.nn.utils.get_total_norm([p.grad for p in params], foreach=True)
        if bool(torch.isfinite(total)):
            return
        names = {id(p): n for n, p in self.named_parameters()}
        bad = [names.get(id(p), "?") for p in params if not bool(torch.isfinite(p.grad).all())]
        if not bad:
            return
        where = (
            f"non-finite gradients at step {self.global_step} in {len(bad)} parameter(s): "
            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}"
        )
        if self.nonfinite == "raise":
            raise FloatingPointError(
                f"{where}. Nothing was updated or saved. Lower the learning rate, clip gradients "
                "(trainer.gradient_clip_val), use bf16 instead of fp16, or pass nonfinite='skip' "
                "to drop such steps."
            )
        for p in params:
            p.grad = None  # the optimiser then leaves every parameter (and its state) as it was
        self._nonfinite_grad_skips += 1
        self.log("train/nonfinite_grad_skips", float(self._nonfinite_grad_skips), batch_size=1)
        if self._nonfinite_grad_skips == 1:
            rank_zero_warn(f"{where}; skipping this optimiser step (nonfinite='skip').")

    def _eval_step(self, prefix: str, batch: Any, dataloader_idx: int) -> None:
        name = self._val_names[dataloader_idx]
        out = self._task_losses(name, batch)
        self._log_outputs(prefix, name, out, batch)

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("val", batch, dataloader_idx)

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("test", batch, dataloader_idx)

    def configure_model(self) -> None:
        """Under Lightning's ``ModelParallelStrategy``: FSDP2 over every method, each transformer
        block its own unit (:func:`~selfsup.experiment.fsdp.shard_transformer_blocks`).

        Raises:
            ValueError: modules shared between tasks (not supported under FSDP yet).
        """
        from lightning.pytorch.strategies import ModelParallelStrategy

        strategy = self._trainer.strategy if self._trainer is not None else None
        if not isinstance(strategy, ModelParallelStrategy) or self._sharded:
            return
        if len(self.shared):
            # each method is its own FSDP root; two roots cannot share a sharded unit
            raise ValueError(
                "ModelParallelStrategy (FSDP) does not support modules shared between tasks "
                f"yet (shared: {', '.join(self.shared)}); train this experiment with "
                "--trainer.strategy ddp."
            )
        mesh = strategy.device_mesh["data_parallel"]
        for task in self.tasks.values():
            shard_transformer_blocks(task.method, mesh)
        self._sharded = True

    def configure_callbacks(self) -> list[Callback]:
        return [TeacherUpdates()]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.exact_resume:
            seed_everything_for_step(self.sampling_seed, "step", self.current_epoch, batch_idx)

    # -- monitors -----------------------------------------------------------
    def embed_batch(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Training-batch representations per task, for label-free monitors."""
        feats: dict[str, Tensor] = {}
        for name, task in self.tasks.items():
            if batch.get(name) is None:
                continue
            with unsharded(task.method) as method:
                rep = method.representations(batch[name])
            if rep is not None:
                feats[name] = rep
        return feats

    def embed_inputs(self, name: str, inputs: Any) -> Tensor:
        """Frozen features of probe inputs for one task (``Method.embed``)."""
        with unsharded(self.tasks[name].method) as method:
            return method.embed(inputs)

    # -- optimisation -------------------------------------------------------
    def configure_optimizers(self) -> Any:
        asked, claimed = method_param_groups(self.tasks)  # type: ignore[arg-type]
        groups = asked + split_weight_decay(self, self.no_weight_decay, skip=claimed)
        optimizer = self.optimizer_factory(groups)
        for group in optimizer.param_groups:  # before any scheduler reads the base rates
            if "lr_scale" in group:
                group["lr"] = group["lr"] * group["lr_scale"]
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

"""Task sampling for multi-task experiments: which task's batch each optimiser step trains on.

With ``sampling="all"`` every step holds one batch of every task (Lightning's ``CombinedLoader``).
The other policies give each step the batch of **one** task, drawn so that tasks of very
different sizes share the budget in a controlled way:

* ``"round_robin"``: tasks in turn, ``t_k = k mod T``.
* ``"proportional"``: ``p_t = n_t / sum_s n_s`` with ``n_t`` the task's dataset size.
* ``"temperature"``: ``p_t = n_t^{1/tau} / sum_s n_s^{1/tau}`` (the temperature-scaled sampling of
  multilingual pre-training, Arivazhagan et al. arXiv 1907.05019); ``tau = 1`` is proportional,
  large ``tau`` tends to uniform.

The task sequence of an epoch is a pure function of ``(seed, epoch)``: every DDP rank draws the
same task at the same step (each rank still reads its own shard of that task's data), and a
resumed run replays the same sequence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch.utilities import CombinedLoader
from lightning.pytorch.utilities.combined_loader import _ModeIterator
from lightning.pytorch.utilities.data import sized_len

__all__ = ["SAMPLING_POLICIES", "TaskSampledLoader", "task_probabilities"]

SAMPLING_POLICIES = ("all", "round_robin", "proportional", "temperature")
_STATE_KEY = "selfsup_task_sequence"


def task_probabilities(
    sizes: Sequence[float], policy: str, temperature: float = 1.0
) -> list[float]:
    """Probability of drawing each task at a step.

    Args:
        sizes: ``n_t`` per task (dataset sizes; any positive numbers).
        policy: ``"round_robin"`` (uniform), ``"proportional"`` or ``"temperature"``.
        temperature: ``tau > 0`` for ``"temperature"``.

    Returns:
        ``p_t`` per task, summing to 1.

    Raises:
        ValueError: On an unknown policy, non-positive sizes or temperature.
    """
    if policy not in SAMPLING_POLICIES[1:]:
        raise ValueError(
            f"policy must be one of {SAMPLING_POLICIES[1:]} to have per-task probabilities, "
            f"got {policy!r}."
        )
    if not sizes or any(not (s > 0 and math.isfinite(s)) for s in sizes):
        raise ValueError(f"task sizes must be positive and finite, got {list(sizes)}.")
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"sampling temperature must be > 0, got {temperature}.")
    if policy == "round_robin":
        return [1.0 / len(sizes)] * len(sizes)
    exponent = 1.0 if policy == "proportional" else 1.0 / temperature
    # log-space keeps large sizes with small temperatures finite
    logs = [exponent * math.log(s) for s in sizes]
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = sum(weights)
    return [w / total for w in weights]


class _SampledTasks(_ModeIterator):
    """One task's batch per step; exhausted task loaders restart (they cycle)."""

    def __init__(self, iterables: list[Iterable], order: list[int]) -> None:
        super().__init__(iterables, None)
        self.order = order

    def __next__(self) -> tuple[list[Any], int, int]:
        if self._idx >= len(self):
            raise StopIteration
        task = self.order[self._idx]
        try:
            batch = next(self.iterators[task])
        except StopIteration:
            self.iterators[task] = iter(self.iterables[task])
            try:
                batch = next(self.iterators[task])
            except StopIteration:
                raise RuntimeError(
                    f"task loader #{task} yields no batch at all; check its data module "
                    "(empty dataset, or drop_last with fewer samples than one batch)."
                ) from None
        out: list[Any] = [None] * len(self.iterables)
        out[task] = batch
        index = self._idx
        self._idx += 1
        return out, index, 0

    def __len__(self) -> int:
        return len(self.order)


class TaskSampledLoader(CombinedLoader):
    """A :class:`~lightning.pytorch.utilities.CombinedLoader` whose steps each hold one task.

    Batches arrive as ``{task: batch}`` with only the drawn task present (``None`` elsewhere, which
    :class:`~selfsup.experiment.SSLModule` skips). Lightning still sees every task loader (so it
    injects distributed samplers), but its per-loader limits do not apply to a sampled epoch:
    ``limit_batches`` caps the steps instead.

    Args:
        loaders: Task name -> its training loader.
        policy: ``"round_robin"``, ``"proportional"`` or ``"temperature"`` (see module docstring).
        temperature: ``tau`` of the temperature policy.
        steps_per_epoch: Steps per epoch (default: the sum of the task loaders' lengths, i.e.
            about one pass over every task's data per epoch under ``"proportional"``).
        seed: Seed of the task sequence; epoch ``e`` uses ``seed + e``. ``epoch`` counts the
            passes over this loader; :class:`~selfsup.experiment.SSLModule` sets it to the
            trainer's epoch at every epoch start, so a resumed run replays the same sequence;
            checkpoints also keep the step reached, so a run resumed mid-epoch continues it.
        sizes: ``n_t`` per task (default: each loader's dataset length, else its length in
            batches).
        limit_batches: Lightning's ``limit_train_batches`` for the sampled epoch: an int caps
            the steps, a float keeps that share of them (default 1.0: all).

    Raises:
        ValueError: On an unknown policy, an empty mapping, unsized loaders without ``sizes`` or
            ``steps_per_epoch``, or a non-positive ``steps_per_epoch``.
    """

    def __init__(
        self,
        loaders: Mapping[str, Iterable],
        policy: str,
        temperature: float = 1.0,
        steps_per_epoch: int | None = None,
        seed: int = 0,
        sizes: Mapping[str, float] | None = None,
        limit_batches: int | float = 1.0,
    ) -> None:
        if not loaders:
            raise ValueError("TaskSampledLoader needs at least one task loader.")
        super().__init__(dict(loaders), mode="max_size_cycle")
        self.names = list(loaders)
        task_sizes = [
            float(sizes[n]) if sizes is not None else self._size_of(n, loaders[n])
            for n in self.names
        ]
        self.probabilities = task_probabilities(task_sizes, policy, temperature)
        self.policy = policy
        if steps_per_epoch is None:
            lengths = [sized_len(loaders[n]) for n in self.names]
            if any(length is None for length in lengths):
                raise ValueError(
                    "a task loader has no length (iterable-style dataset): pass steps_per_epoch."
                )
            steps_per_epoch = sum(lengths)  # type: ignore[arg-type]
        if isinstance(steps_per_epoch, bool) or int(steps_per_epoch) < 1:
            raise ValueError(f"steps_per_epoch must be a positive int, got {steps_per_epoch!r}.")
        self.steps_per_epoch = int(steps_per_epoch)
        if isinstance(limit_batches, int) and not isinstance(limit_batches, bool):
            self.steps_per_epoch = min(self.steps_per_epoch, limit_batches)
        else:
            self.steps_per_epoch = int(self.steps_per_epoch * float(limit_batches))
        self.seed = int(seed)
        self.epoch = 0
        self._order_epoch = 0
        self._pending: tuple[int, int] | None = None

    @staticmethod
    def _size_of(name: str, loader: Iterable) -> float:
        size = sized_len(getattr(loader, "dataset", None)) or sized_len(loader)
        if not size:
            raise ValueError(
                f"task {name!r}: cannot size its loader for task sampling (no dataset length); "
                "pass sizes={task: n} or use sampling='round_robin'."
            )
        return float(size)

    def task_order(self, epoch: int) -> list[int]:
        """Task index of every step of ``epoch`` (identical on every rank and on resume)."""
        if self.policy == "round_robin":
            return [k % len(self.names) for k in range(self.steps_per_epoch)]
        generator = torch.Generator().manual_seed(self.seed + epoch)
        probs = torch.tensor(self.probabilities, dtype=torch.float64)
        draws = torch.multinomial(
            probs, self.steps_per_epoch, replacement=True, generator=generator
        )
        return draws.tolist()

    def __iter__(self) -> TaskSampledLoader:
        epoch, start = self.epoch, 0
        if self._pending is not None:  # resuming mid-epoch: same sequence, same step
            epoch, start = self._pending
            self._pending = None
        iterator = _SampledTasks(self.flattened, self.task_order(epoch))
        iter(iterator)
        iterator._idx = start
        self._iterator = iterator
        self._order_epoch = epoch
        self.epoch = epoch + 1
        return self

    # Lightning saves ``_state_dicts()`` in checkpoints and hands it back to ``_load_state_dicts``;
    # the sequence position rides along after the task loaders' own states.
    def _state_dicts(self) -> list[dict[str, Any]]:
        step = self._iterator._idx if isinstance(self._iterator, _SampledTasks) else 0
        own = {_STATE_KEY: {"epoch": self._order_epoch, "step": step}}
        return [*super()._state_dicts(), own]

    def _load_state_dicts(self, states: list[dict[str, Any]]) -> None:
        if states and _STATE_KEY in states[-1]:
            own, states = states[-1][_STATE_KEY], states[:-1]
            self._pending = (int(own["epoch"]), int(own["step"]))
        super()._load_state_dicts(states)

    def _dataset_length(self) -> int:
        return self.steps_per_epoch

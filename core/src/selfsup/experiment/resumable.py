"""Training data whose order and randomness survive a checkpoint: exact mid-epoch resume.

Lightning restores weights, optimiser and scheduler state, but a run killed mid-epoch resumes
with a fresh data iterator and whatever the global random generators hold at restart, so the
resumed run sees other batches, other augmentations and other masks than the run it continues.
:class:`ResumableLoader` closes that gap for map-style datasets:

* **Order** is a pure function of ``(seed, epoch, cycle)``: pass ``c`` of epoch ``e`` visits
  ``randperm(n, seed = h(seed, e, c))`` (or ``0..n-1`` without shuffling). ``epoch`` comes from
  Lightning (``loader.sampler.set_epoch``, as for a ``DistributedSampler``); ``cycle`` counts the
  passes started within the epoch (a short task loader cycles inside a long epoch).
* **Position**: ``state_dict()`` holds ``(epoch, cycle, offset)`` — the batches already delivered —
  and Lightning saves it in every checkpoint (it saves the state of any training iterable with
  ``state_dict``/``load_state_dict``). After ``load_state_dict`` the next pass of the same epoch
  continues at ``offset``.
* **Randomness**: the samples of batch ``b`` are read, and the batch collated, under the torch,
  NumPy and ``random`` generators seeded with ``h(seed, e, c, b)`` (restored afterwards), so data
  augmentation does not depend on how many random numbers the model drew before, on prefetching
  or on worker processes. :func:`seed_everything_for_step` does the same for the model side.

Under ``torch.distributed`` each rank reads ``perm[rank::world]`` of the permutation padded to a
multiple of the world size (``DistributedSampler``'s rule), so the loader shards itself and
Lightning's sampler injection is not needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
)
from torch.utils.data._utils.collate import default_collate

__all__ = ["ResumableLoader", "derive_seed", "make_resumable", "seed_everything_for_step"]


def derive_seed(*keys: Any) -> int:
    """A 63-bit seed that is a pure function of ``keys`` (ints and strings), stable across runs.

    ``hash()`` is salted per process for strings, so a digest is used instead.
    """
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@contextlib.contextmanager
def _seeded_generators(seed: int) -> Iterator[None]:
    """Seed torch (CPU), NumPy and ``random`` for the block, then put their states back."""
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    torch.random.default_generator.manual_seed(seed)  # CPU only: that is what is restored
    np.random.seed(seed % 2**32)
    random.seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def seed_everything_for_step(seed: int, *keys: Any) -> None:
    """Seed torch (every device), NumPy and ``random`` with ``derive_seed(seed, *keys)``.

    Called at the start of every training step with ``keys = (epoch, batch_idx)``, it makes the
    model's randomness (dropout, masks, on-device augmentation) a function of the step alone, so
    a run resumed from a checkpoint draws exactly what the uninterrupted run drew.
    """
    value = derive_seed(seed, *keys)
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    random.seed(value)


class _SeededRequest(tuple):
    """``(seed, indices)`` of one batch, as the batch sampler hands it to the dataset."""


class _SeededSamples(list):
    """The samples of one batch with the seed their collation uses."""

    seed: int = 0


class _SeededDataset(Dataset):
    """Reads a batch's samples under that batch's seed (in the main process or a worker)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __getitems__(self, request: _SeededRequest) -> _SeededSamples:
        seed, indices = request
        with _seeded_generators(seed):
            getitems = getattr(self.dataset, "__getitems__", None)
            samples = getitems(list(indices)) if getitems else [self.dataset[i] for i in indices]
        out = _SeededSamples(samples)
        out.seed = seed
        return out

    def __getitem__(self, index: int) -> Any:  # pragma: no cover - batches use __getitems__
        return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


class _SeededCollate:
    def __init__(self, collate_fn: Callable[[list[Any]], Any]) -> None:
        self.collate_fn = collate_fn

    def __call__(self, samples: _SeededSamples) -> Any:
        with _seeded_generators(derive_seed(samples.seed, "collate")):
            return self.collate_fn(list(samples))


class _EpochSetter:
    """What Lightning finds at ``loader.sampler``: it calls ``set_epoch`` before every epoch."""

    def __init__(self, loader: ResumableLoader) -> None:
        self._loader = loader

    def set_epoch(self, epoch: int) -> None:
        self._loader.set_epoch(epoch)


def _world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ResumableLoader:
    """Batches of a map-style dataset with checkpointable position and per-batch seeded randomness.

    A drop-in for ``DataLoader(dataset, batch_size, shuffle, drop_last, collate_fn, ...)`` in a
    data module's ``train_dataloader``; see the module docstring for the guarantees.
    :func:`make_resumable` converts an existing plain ``DataLoader``.

    Args:
        dataset: A map-style dataset (``__getitem__`` and ``__len__``).
        batch_size: Samples per batch.
        shuffle: A new permutation every pass (else dataset order).
        drop_last: Drop the last incomplete batch of a pass.
        collate_fn: Builds a batch from a list of samples (default: torch's ``default_collate``).
        seed: Base seed of the order and of the data randomness.
        batch_plan: Optional custom batching (length buckets, class-balanced batches, ...):
            ``batch_plan(key)`` returns the index batches of one pass as a pure function of the
            integer ``key`` (derived from seed, epoch and pass). Replaces ``shuffle``/``drop_last``
            batching; under ``torch.distributed`` rank ``r`` takes batches ``r, r + W, ...``
            (equal counts on every rank).
        **loader_kwargs: Passed to the ``DataLoader`` that fetches each pass (``num_workers``,
            ``pin_memory``, ``worker_init_fn``, ``timeout``, ``prefetch_factor``, ...).

    Raises:
        TypeError: For an iterable-style dataset (no random access, so no resumable order).
        ValueError: For ``batch_size < 1`` or an empty dataset.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        seed: int = 0,
        batch_plan: Callable[[int], list[list[int]]] | None = None,
        **loader_kwargs: Any,
    ) -> None:
        if isinstance(dataset, IterableDataset):
            raise TypeError(
                "ResumableLoader needs a map-style dataset (__getitem__ + __len__); an "
                "IterableDataset has no index to resume from. Make the stream resumable itself "
                "(state_dict/load_state_dict on the loader) or resume at epoch boundaries."
            )
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValueError("ResumableLoader got an empty dataset.")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn or default_collate
        self.seed = int(seed)
        self.batch_plan = batch_plan
        self._plan_length: int | None = None
        self.loader_kwargs = loader_kwargs
        self.sampler = _EpochSetter(self)
        self.epoch = 0
        self._cycles_started = 0
        self._position = {"epoch": 0, "cycle": 0, "offset": 0}
        self._pending: dict[str, int] | None = None

    # -- order ----------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Start counting passes of ``epoch`` (Lightning calls this before every epoch)."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self._cycles_started = 0

    def _rank_indices(self, epoch: int, cycle: int) -> list[int]:
        n = len(self.dataset)  # type: ignore[arg-type]
        if self.shuffle:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "order", epoch, cycle))
            order = torch.randperm(n, generator=gen).tolist()
        else:
            order = list(range(n))
        rank, world = _world()
        if world > 1:
            total = -(-n // world) * world
            order = (order * (total // n + 1))[:total]  # pad by wrapping, as DistributedSampler
            order = order[rank::world]
        return order

    def _planned(self, epoch: int, cycle: int) -> list[list[int]]:
        assert self.batch_plan is not None
        batches = [list(b) for b in self.batch_plan(derive_seed(self.seed, "plan", epoch, cycle))]
        rank, world = _world()
        per_rank = len(batches) // world
        return batches[rank::world][:per_rank]

    def _batches(self, epoch: int, cycle: int) -> list[list[int]]:
        if self.batch_plan is not None:
            return self._planned(epoch, cycle)
        indices, size = self._rank_indices(epoch, cycle), self.batch_size
        batches = [indices[i : i + size] for i in range(0, len(indices), size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __len__(self) -> int:
        if self.batch_plan is not None:
            if self._plan_length is None:
                self._plan_length = len(self.batch_plan(0))
            return self._plan_length // _world()[1]
        rank, world = _world()
        n = len(self.dataset)  # type: ignore[arg-type]
        per_rank = -(-n // world)
        return per_rank // self.batch_size if self.drop_last else -(-per_rank // self.batch_size)

    # -- iteration ------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        return self._generate()

    def _generate(self) -> Iterator[Any]:
        # A generator body runs at the first next(): after Lightning's set_epoch, which it calls
        # once the iterators already exist.
        pending, self._pending = self._pending, None
        if pending is not None and pending["epoch"] == self.epoch:
            cycle, offset = pending["cycle"], pending["offset"]
        else:
            cycle, offset = self._cycles_started, 0
        self._cycles_started = cycle + 1
        epoch = self.epoch
        batches = self._batches(epoch, cycle)
        requests: Sequence[_SeededRequest] = [
            _SeededRequest((derive_seed(self.seed, "batch", epoch, cycle, b), batches[b]))
            for b in range(offset, len(batches))
        ]
        self._position = {"epoch": epoch, "cycle": cycle, "offset": offset}
        if not requests:
            return
        loader = DataLoader(
            _SeededDataset(self.dataset),
            batch_sampler=requests,  # type: ignore[arg-type]
            collate_fn=_SeededCollate(self.collate_fn),
            # the DataLoader draws its workers' base seed from this, not the global generator
            generator=torch.Generator().manual_seed(derive_seed(self.seed, "loader", epoch, cycle)),
            **self.loader_kwargs,
        )
        for batch in loader:
            self._position = {"epoch": epoch, "cycle": cycle, "offset": offset + 1}
            offset += 1
            yield batch

    # -- checkpointing --------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        """Where the loader stands: epoch, pass within the epoch, batches delivered in that pass."""
        return {**self._position, "seed": self.seed, "dataset_length": len(self.dataset)}  # type: ignore[arg-type]

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from ``state`` at the next pass of the same epoch.

        Raises:
            ValueError: When the dataset length or seed differ from the checkpoint's (the saved
                position would point into other data).
        """
        n = len(self.dataset)  # type: ignore[arg-type]
        if int(state["dataset_length"]) != n or int(state["seed"]) != self.seed:
            raise ValueError(
                f"cannot resume this loader: the checkpoint was written for a dataset of "
                f"{state['dataset_length']} samples with seed {state['seed']}, this loader has "
                f"{n} samples and seed {self.seed}. Resume with the same data and seed, or start "
                "the epoch over (load the weights without the loop state)."
            )
        self._pending = {k: int(state[k]) for k in ("epoch", "cycle", "offset")}
        self.epoch = self._pending["epoch"]
        self._position = dict(self._pending)


def make_resumable(loader: Any, seed: int, name: str = "loader") -> ResumableLoader:
    """The :class:`ResumableLoader` equivalent of a plain ``DataLoader`` (same batches per pass).

    Keeps the dataset, batch size, shuffling, ``drop_last``, ``collate_fn`` and worker settings.

    Args:
        loader: A ``ResumableLoader`` or any loader with ``state_dict``/``load_state_dict``
            (returned as is: it resumes itself), or a ``torch.utils.data.DataLoader`` with a
            ``RandomSampler`` (no replacement) or ``SequentialSampler`` and a plain
            ``BatchSampler``, or with a batch sampler that has ``batches_for(key)`` (its
            batches for any pass, see ``ResumableLoader(batch_plan=)``).
        seed: Base seed of the order and data randomness.
        name: Named in errors (e.g. the task).

    Raises:
        TypeError: For anything else (custom samplers, iterable datasets, loaders that sample in
            their own iterator such as PyG's ``NeighborLoader``) — say how to make it resumable.
    """
    if isinstance(loader, ResumableLoader) or (
        callable(getattr(loader, "state_dict", None))
        and callable(getattr(loader, "load_state_dict", None))
    ):
        return loader  # it keeps its own position (Lightning saves it with the checkpoint)
    hint = (
        f"{name}: exact resume needs a map-style DataLoader with shuffle=True/False, a "
        "selfsup.experiment.ResumableLoader or a loader with state_dict/load_state_dict "
        "returned by train_dataloader(); "
    )
    if not isinstance(loader, DataLoader):
        raise TypeError(hint + f"got {type(loader).__name__}.")
    cls = type(loader)
    if cls.__iter__ is not DataLoader.__iter__ or cls._get_iterator is not DataLoader._get_iterator:
        raise TypeError(hint + f"{cls.__name__} builds batches in its own iterator.")
    if isinstance(loader.dataset, IterableDataset):
        raise TypeError(hint + "its dataset is an IterableDataset.")
    batch_sampler = loader.batch_sampler
    plan = getattr(batch_sampler, "batches_for", None)
    if callable(plan):
        shuffle = False  # the plan decides the order
    else:
        plan = None
        sampler = loader.sampler
        if isinstance(sampler, RandomSampler):
            if sampler.replacement or sampler._num_samples is not None:
                raise TypeError(hint + "its RandomSampler draws with replacement or a fixed count.")
            shuffle = True
        elif isinstance(sampler, SequentialSampler):
            shuffle = False
        else:
            raise TypeError(hint + f"it uses a custom sampler ({type(sampler).__name__}).")
        if batch_sampler is None or type(batch_sampler) is not BatchSampler:
            raise TypeError(
                hint + "it has no batch size, or a custom batch sampler without "
                "batches_for(key) -> list of index batches for any pass."
            )
    kwargs: dict[str, Any] = {
        "num_workers": loader.num_workers,
        "pin_memory": loader.pin_memory,
        "timeout": loader.timeout,
        "worker_init_fn": loader.worker_init_fn,
        "multiprocessing_context": loader.multiprocessing_context,
    }
    if loader.num_workers > 0:
        kwargs["prefetch_factor"] = loader.prefetch_factor
    return ResumableLoader(
        loader.dataset,
        batch_size=getattr(batch_sampler, "batch_size", 1),
        shuffle=shuffle,
        drop_last=bool(getattr(batch_sampler, "drop_last", False)),
        collate_fn=loader.collate_fn,
        seed=seed,
        batch_plan=plan,
        **kwargs,
    )

"""Data larger than memory: samples in tar shards on disk, streamed by rank and worker, resumable.

A shard folder holds ``shard-000000.tar``, ``shard-000001.tar``, ... and ``index.json`` (the
shards and their sample counts). A sample is the group of consecutive tar members that share a
key: ``000042.jpg`` and ``000042.cls`` are the sample ``{"__key__": "000042", "jpg": b"...",
"cls": b"3"}`` (the WebDataset layout, so shards made by other tools read too once indexed by
:func:`index_shards`). Members are read as bytes; nothing is extracted to disk and nothing in a
shard runs.

Over 400 lines on purpose: the shard layout, its indexer and the streaming loader share one
format and one resume state (epoch, shard, offset); split apart, each part would restate it.

:class:`ShardLoader` streams such a folder:

* **Sharding.** Epoch ``e`` orders the shards by a permutation seeded with ``(seed, e)`` and
  deals them round-robin to the ``W x K`` global workers (``W`` ranks, ``K`` loader workers
  each); a worker reads only its shards, one at a time, so memory holds one shard per worker.
  Within a shard the samples are permuted with a seed of ``(seed, e, shard)``.
* **Equal length.** Every global worker delivers the same number of batches in every epoch: as
  many as the ``floor(S / G)`` smallest of the ``S`` shards fill (sample counts come from the
  index, so no rank has to ask another); a worker's samples beyond that wait for another epoch's
  deal, like ``DistributedSampler(drop_last=True)`` drops a remainder. DDP ranks therefore step
  together, and batches come from the ``K`` workers in a fixed round-robin order.
* **Exact resume.** ``state_dict()`` holds the epoch and the batches delivered; Lightning saves
  it in checkpoints (as for :class:`~selfsup.experiment.ResumableLoader`). After
  ``load_state_dict`` each worker skips the batches it had produced, skipping whole shards by
  their counts, and the run continues with the very batch that would have come next.

Examples::

    write_shards(({"__key__": f"{i:06d}", "txt": str(i).encode()} for i in range(10_000)),
                 "shards/", samples_per_shard=1000)
    loader = ShardLoader("shards/", decode=lambda s: int(s["txt"]), batch_size=64,
                         num_workers=2)
    for batch in loader:  # (64,) int64 tensors
        ...
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torch.utils.data._utils.collate import default_collate

from selfsup.experiment.resumable import derive_seed

__all__ = [
    "INDEX_NAME",
    "ShardInfo",
    "ShardLoader",
    "index_shards",
    "iter_tar_samples",
    "read_index",
    "write_shards",
]

#: The index file of a shard folder.
INDEX_NAME = "index.json"
_FORMAT = "selfsup-shards/1"


@dataclass(frozen=True)
class ShardInfo:
    """One shard of a folder: its file and how many samples it holds."""

    path: Path
    count: int


def _split_member(name: str) -> tuple[str, str]:
    base = name.rsplit("/", 1)[-1]
    key, dot, ext = base.partition(".")
    if not dot or not key or not ext:
        raise ValueError(
            f"tar member {name!r} is not <key>.<field> (e.g. 000042.jpg); shards group a "
            "sample's fields by their common key."
        )
    prefix = name[: len(name) - len(base)]
    return prefix + key, ext


def iter_tar_samples(path: str | Path) -> Iterator[dict[str, Any]]:
    """The samples of one tar shard, in order: ``{"__key__": key, field: bytes, ...}``.

    Only regular-file members are read (as bytes, in memory); directories are skipped; links
    and devices are refused.

    Raises:
        ValueError: a link or special member, a member name without ``<key>.<field>``, or one
            key's fields not next to each other (or repeated).
    """
    current: dict[str, Any] | None = None
    seen: set[str] = set()
    with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
            if member.isdir():
                continue
            if not member.isfile():
                raise ValueError(
                    f"{path}: member {member.name!r} is not a regular file (links and devices "
                    "are refused)."
                )
            key, field = _split_member(member.name)
            if current is None or current["__key__"] != key:
                if current is not None:
                    yield current
                if key in seen:
                    raise ValueError(
                        f"{path}: the fields of sample {key!r} are not next to each other; "
                        "write each sample's members together."
                    )
                seen.add(key)
                current = {"__key__": key}
            if field in current:
                raise ValueError(f"{path}: sample {key!r} has field {field!r} twice.")
            handle = tar.extractfile(member)
            current[field] = handle.read() if handle is not None else b""
    if current is not None:
        yield current


def write_shards(
    samples: Iterable[Mapping[str, Any]],
    folder: str | Path,
    samples_per_shard: int = 1000,
    prefix: str = "shard",
) -> list[ShardInfo]:
    """Write ``samples`` into tar shards of ``samples_per_shard`` and the folder's index.

    Each sample maps ``"__key__"`` to a unique key without ``.`` or ``/`` and field names to
    ``bytes`` (or ``str``, written as UTF-8). Every shard is written to a temporary name and
    renamed when complete, and the index last, so a folder with an index is whole.

    Raises:
        ValueError: a bad key or field, a non-bytes value, or ``samples_per_shard < 1``.
    """
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be >= 1, got {samples_per_shard}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shards: list[ShardInfo] = []
    tar: tarfile.TarFile | None = None
    tmp: Path | None = None
    count = 0

    def close() -> None:
        nonlocal tar, tmp, count
        if tar is None or tmp is None:
            return
        tar.close()
        final = tmp.with_suffix("")  # drop ".part"
        os.replace(tmp, final)
        shards.append(ShardInfo(final, count))
        tar, tmp, count = None, None, 0

    for sample in samples:
        key = str(sample.get("__key__", ""))
        if not key or "." in key or "/" in key:
            raise ValueError(f"sample key {key!r} must be non-empty, without '.' or '/'.")
        if tar is None:
            tmp = folder / f"{prefix}-{len(shards):06d}.tar.part"
            tar = tarfile.open(tmp, mode="w")
        for field, value in sample.items():
            if field == "__key__":
                continue
            if "/" in field or not field:
                raise ValueError(f"sample {key!r}: field name {field!r} is not a file suffix.")
            data = value.encode() if isinstance(value, str) else value
            if not isinstance(data, (bytes, bytearray)):
                raise ValueError(
                    f"sample {key!r}: field {field!r} is {type(value).__name__}; encode it to "
                    "bytes (an image file's bytes, a label as text)."
                )
            info = tarfile.TarInfo(f"{key}.{field}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        count += 1
        if count == samples_per_shard:
            close()
    close()
    _write_index(folder, shards)
    return shards


def _write_index(folder: Path, shards: Sequence[ShardInfo]) -> None:
    index = {
        "format": _FORMAT,
        "shards": [{"name": s.path.name, "count": s.count} for s in shards],
    }
    tmp = folder / (INDEX_NAME + ".part")
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, folder / INDEX_NAME)


def index_shards(folder: str | Path, pattern: str = "*.tar") -> list[ShardInfo]:
    """Count the samples of every shard matching ``pattern`` and write the folder's index.

    For shards written by other tools (WebDataset layout); reads each shard once.
    """
    folder = Path(folder)
    paths = sorted(folder.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no shards matching {pattern!r} in {folder}.")
    shards = [ShardInfo(p, sum(1 for _ in iter_tar_samples(p))) for p in paths]
    _write_index(folder, shards)
    return shards


def read_index(folder: str | Path) -> list[ShardInfo]:
    """The shards listed in ``folder/index.json``, checked to exist.

    Raises:
        FileNotFoundError: no index (make one with :func:`index_shards`) or a listed shard is
            missing.
        ValueError: an index that is not ours or has bad entries.
    """
    folder = Path(folder)
    path = folder / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} has no {INDEX_NAME}; write shards with selfsup.data.shards.write_shards "
            "or index existing tar shards with index_shards(folder)."
        )
    try:
        index = json.loads(path.read_text())
        entries = index["shards"]
        ok = index.get("format") == _FORMAT and isinstance(entries, list) and entries
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a shard index: {err}.") from None
    if not ok:
        raise ValueError(f"{path} is not a {_FORMAT} index with at least one shard.")
    shards = []
    for entry in entries:
        name, count = entry.get("name"), entry.get("count")
        if not isinstance(name, str) or "/" in name or not isinstance(count, int) or count < 0:
            raise ValueError(f"{path}: bad shard entry {entry!r}.")
        shard = folder / name
        if not shard.is_file():
            raise FileNotFoundError(f"{path} lists {name}, which is not in {folder}.")
        shards.append(ShardInfo(shard, count))
    return shards


def _world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class _WorkerStream(IterableDataset):
    """What one loader worker yields: its shards' samples, decoded and collated into batches."""

    def __init__(self, loader: ShardLoader, epoch: int, delivered: int) -> None:
        self.loader = loader
        self.epoch = epoch
        self.delivered = delivered
        # resolved here, in the training process: a worker process may not see the group
        self.rank, self.world = _world()
        self.budget = loader.batches_per_worker
        self.plan = [
            loader.worker_shards(epoch, self.rank * loader.workers + w)
            for w in range(loader.workers)
        ]

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        loader = self.loader
        workers = loader.workers
        # batches this worker already produced: the loader takes them round-robin
        done = self.delivered // workers + (1 if worker < self.delivered % workers else 0)
        budget = self.budget - done
        if budget <= 0:
            return
        skip = done * loader.batch_size
        pending: list[Any] = []
        for shard_index in self.plan[worker]:
            shard = loader.shards[shard_index]
            if skip >= shard.count:
                skip -= shard.count
                continue
            samples = list(iter_tar_samples(shard.path))
            if len(samples) != shard.count:
                raise ValueError(
                    f"{shard.path} holds {len(samples)} samples, its index says {shard.count}; "
                    "re-index the folder (selfsup.data.shards.index_shards)."
                )
            if loader.shuffle:
                gen = torch.Generator().manual_seed(
                    derive_seed(loader.seed, "shard", self.epoch, shard_index)
                )
                samples = [samples[i] for i in torch.randperm(len(samples), generator=gen)]
            for position in range(skip, len(samples)):
                sample = samples[position]
                # randomness a decoder draws (crops) is then a function of where the sample
                # falls in the run, so a resumed run draws it again the same
                sample["__seed__"] = derive_seed(
                    loader.seed, "sample", self.epoch, shard_index, position
                )
                pending.append(loader.decode(sample))
                if len(pending) == loader.batch_size:
                    yield loader.collate(pending)
                    pending = []
                    budget -= 1
                    if budget == 0:
                        return
            skip = 0


class _EpochSetter:
    """What Lightning finds at ``loader.sampler``: it calls ``set_epoch`` before every epoch."""

    def __init__(self, loader: ShardLoader) -> None:
        self._loader = loader

    def set_epoch(self, epoch: int) -> None:
        self._loader.set_epoch(epoch)


class ShardLoader:
    """Batches streamed from a shard folder, sharded over ranks and workers, resumable.

    Args:
        folder: A folder with shards and ``index.json`` (:func:`write_shards`).
        decode: ``decode(sample) -> item``; ``sample`` is ``{"__key__": str, field: bytes}``
            plus ``"__seed__"``, an int fixed by the seed, epoch, shard and position, to seed
            any random choice the decoder makes (a crop) so that a resumed run repeats it.
        batch_size: Items per batch (every batch is full).
        collate: Turns a list of items into a batch (default: PyTorch's ``default_collate``).
        shuffle: Permute shards per epoch and samples within each shard (default True).
        seed: Seed of those permutations.
        num_workers: Loader worker processes per rank (0: read in the training process).
        pin_memory, prefetch_factor: Passed to the ``DataLoader``.

    Raises:
        FileNotFoundError, ValueError: a missing or bad index (:func:`read_index`).
        ValueError: fewer shards than global workers (ranks x max(1, num_workers)), or shards
            too small to fill one batch per worker.
    """

    def __init__(
        self,
        folder: str | Path,
        decode: Callable[[dict[str, Any]], Any],
        batch_size: int,
        *,
        collate: Callable[[list[Any]], Any] = default_collate,
        shuffle: bool = True,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool = False,
        prefetch_factor: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.folder = Path(folder)
        self.shards = read_index(self.folder)
        self.decode = decode
        self.batch_size = int(batch_size)
        self.collate = collate
        self.shuffle = shuffle
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.workers = max(1, self.num_workers)
        self.loader_kwargs: dict[str, Any] = {"pin_memory": pin_memory}
        if self.num_workers and prefetch_factor is not None:
            self.loader_kwargs["prefetch_factor"] = prefetch_factor
        self.sampler = _EpochSetter(self)
        self.epoch = 0
        self._delivered = 0
        self._pending: int | None = None
        self._world_checked: int | None = None

    # -- the plan -------------------------------------------------------------------------------
    def _global_workers(self) -> int:
        _, world = _world()
        total = world * self.workers
        if len(self.shards) < total:
            raise ValueError(
                f"{self.folder} has {len(self.shards)} shards for {total} global workers "
                f"({world} rank(s) x {self.workers} worker(s)); every worker needs a shard: "
                "write smaller shards or use fewer workers."
            )
        return total

    def worker_shards(self, epoch: int, global_worker: int) -> list[int]:
        """The shard indices global worker ``global_worker`` reads in ``epoch``, in order."""
        total = self._global_workers()
        n = len(self.shards)
        if self.shuffle:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, "shards", epoch))
            order = torch.randperm(n, generator=gen).tolist()
        else:
            order = list(range(n))
        return order[global_worker::total]

    @property
    def batches_per_worker(self) -> int:
        """Batches every global worker delivers per epoch (the same for all, in every epoch).

        Each worker gets at least ``floor(S / G)`` of the ``S`` shards, so it holds at least the
        samples of the ``floor(S / G)`` smallest shards; that bound, in whole batches, is the
        budget. It does not depend on the epoch's deal, so every epoch has the same length.
        """
        total = self._global_workers()
        smallest = sorted(s.count for s in self.shards)[: len(self.shards) // total]
        batches = sum(smallest) // self.batch_size
        if batches == 0:
            raise ValueError(
                f"{self.folder}: a worker may get only {sum(smallest)} samples, fewer than one "
                f"batch of {self.batch_size}; use a smaller batch or fewer workers."
            )
        return batches

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return self.batches_per_worker * self.workers

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    # -- iteration ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        return self._generate()

    def _generate(self) -> Iterator[Any]:
        # runs at the first next(), after Lightning's set_epoch
        pending, self._pending = self._pending, None
        delivered = pending if pending is not None else 0
        epoch = self.epoch
        self._delivered = delivered
        if delivered >= len(self):
            return
        loader = DataLoader(
            _WorkerStream(self, epoch, delivered),
            batch_size=None,
            num_workers=self.num_workers,
            **self.loader_kwargs,
        )
        # the DataLoader takes workers round-robin; a resumed pass starts at the worker whose
        # turn it was, so the order of batches is the uninterrupted run's
        shift = delivered % self.workers
        for batch in _rotate(loader, shift, self.workers) if shift else loader:
            self._delivered += 1
            yield batch

    # -- checkpointing --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands: the epoch and the batches delivered in it."""
        return {
            "epoch": self.epoch,
            "delivered": self._delivered,
            "seed": self.seed,
            "shards": [[s.path.name, s.count] for s in self.shards],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` with the next batch of the same epoch.

        Raises:
            ValueError: the checkpoint was written for other shards or another seed.
        """
        shards = [[s.path.name, s.count] for s in self.shards]
        if [list(x) for x in state["shards"]] != shards or int(state["seed"]) != self.seed:
            raise ValueError(
                f"cannot resume this loader: the checkpoint was written for other shards or "
                f"seed {state['seed']} (this loader: seed {self.seed}, {len(shards)} shards in "
                f"{self.folder}). Resume with the same shards and seed, or start the epoch over."
            )
        self.epoch = int(state["epoch"])
        self._pending = int(state["delivered"])
        self._delivered = self._pending


def _rotate(loader: DataLoader, shift: int, workers: int) -> Iterator[Any]:
    """Yield a DataLoader's batches as if its round-robin had started at worker ``shift``.

    A resumed pass restarts the workers and PyTorch asks worker 0 first, but the batch due next
    is worker ``shift``'s. Workers ``0..shift-1`` have one batch fewer left than the others, so
    every full round of the fresh loader is ``[w_0 .. w_{K-1}]`` and the last one holds only
    ``w_shift .. w_{K-1}``; emitting each full round as ``[w_shift .. w_{K-1}, w_0 ..
    w_{shift-1}]`` restores the uninterrupted order.
    """
    held: list[Any] = []
    for batch in loader:
        held.append(batch)
        if len(held) == workers:
            yield from held[shift:]
            yield from held[:shift]
            held = []
    yield from held

"""Batches in which no two samples share a (pseudo-)label: G-SimCLR's false-negative-free batches.

A contrastive loss treats every other sample of the batch as a negative. When labels, or
pseudo-labels from clustering, say two samples are alike, putting them in different batches
keeps them from being pushed apart (Chakraborty et al., G-SimCLR, arXiv 2009.12007).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from selfsup import distributed as sdist

__all__ = ["DistinctLabelBatchSampler", "load_labels"]


def _batches_per_pass(counts: Tensor, global_batch: int) -> int:
    """The most batches of ``global_batch`` distinct labels the counts can fill."""
    best = 0
    for nb in range(1, int(counts.sum()) // global_batch + 1):
        if int(counts.clamp(max=nb).sum()) >= nb * global_batch:
            best = nb
        else:
            break  # sum(min(n_c, nb)) - nb * B is concave in nb: past its zero it stays negative
    return best


class DistinctLabelBatchSampler(Sampler[list[int]]):
    """Index batches whose samples all carry different labels, the same number every pass.

    Each pass (a pure function of its key, :meth:`batches_for`) forms ``P`` global batches of
    ``batch_size * num_replicas`` samples with pairwise different labels: every label keeps a
    random subset of at most ``P`` of its samples, a random share of the rest is dropped so
    exactly ``P`` batches fill, and the samples, grouped by label in a random label order, are
    dealt round-robin to the ``P`` batches (a label's at most ``P`` samples land in different
    batches). ``P`` is the largest count the labels can fill: with ``n_c`` samples of label
    ``c`` and global batch ``G``, the largest ``P`` with ``sum_c min(n_c, P) >= P G``; so the
    pass length never changes, and a label with more than ``P`` samples shows a different
    ``P`` of them each pass. Negative labels mean "no label": each such sample is its own.

    Under ``torch.distributed`` each global batch is emitted as ``num_replicas`` consecutive
    batches of ``batch_size``: a :class:`~selfsup.experiment.ResumableLoader` (or
    :func:`~selfsup.experiment.make_resumable`), which deals batch ``i`` to rank
    ``i mod num_replicas``, gives the ranks one global batch per step, labels distinct across
    ranks too (the loss's gather sees no same-label negative).

    Args:
        labels: One int label (or pseudo-label, e.g. a :class:`~selfsup.targets.KMeans`
            cluster) per sample of the dataset, in its order.
        batch_size: Samples per batch, per rank.
        seed: Base seed of the passes (default 0).
        num_replicas: Ranks sharing a global batch (default None: the current world size).

    Raises:
        ValueError: labels that are not a 1-D integer sequence, ``batch_size < 1``, or fewer
            distinct labels than a global batch holds.

    Examples:
        >>> sampler = DistinctLabelBatchSampler([0, 0, 1, 1, 2, 2, 3], batch_size=3, seed=0)
        >>> len(sampler), [len(set(b)) for b in sampler.batches_for(1)]
        (2, [3, 3])
    """

    def __init__(
        self,
        labels: Sequence[int] | Tensor,
        batch_size: int,
        seed: int = 0,
        num_replicas: int | None = None,
    ) -> None:
        labels = torch.as_tensor(labels)
        if labels.dim() != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
            raise ValueError(
                f"labels must be a 1-D sequence of ints, one per sample, got {labels.dtype} "
                f"{tuple(labels.shape)}."
            )
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        labels = labels.long()
        unlabelled = labels < 0  # each its own label, after every real one
        if bool(unlabelled.any()):
            start = int(labels.max().clamp(min=-1)) + 1
            labels = labels.clone()
            labels[unlabelled] = start + torch.arange(int(unlabelled.sum()))
        self.labels = torch.unique(labels, return_inverse=True)[1]
        self.batch_size = int(batch_size)
        self.num_replicas = int(num_replicas or sdist.world_size())
        self.seed = int(seed)
        self.epoch = 0
        counts = torch.bincount(self.labels)
        global_batch = self.batch_size * self.num_replicas
        if len(counts) < global_batch:
            raise ValueError(
                f"a global batch of {global_batch} samples ({self.batch_size} x "
                f"{self.num_replicas} ranks) needs at least that many distinct labels, got "
                f"{len(counts)}; use more clusters or smaller batches."
            )
        self.num_batches = _batches_per_pass(counts, global_batch)

    def batches_for(self, key: int) -> list[list[int]]:
        """The batches of the pass whose generator is seeded with ``key`` (pure function):
        ``num_batches * num_replicas`` lists of ``batch_size`` indices."""
        gen = torch.Generator().manual_seed(int(key))
        nb, global_batch = self.num_batches, self.batch_size * self.num_replicas
        order = torch.randperm(len(self.labels), generator=gen)
        # at most nb samples per label: the first nb of each label in the shuffled order
        by_label = self.labels[order].argsort(stable=True)
        grouped = order[by_label]
        sorted_labels = self.labels[grouped]
        starts = torch.searchsorted(sorted_labels, sorted_labels, right=False)
        rank_in_label = torch.arange(len(grouped)) - starts
        kept = grouped[rank_in_label < nb]
        # drop a random share of the rest so exactly nb * global_batch remain
        extra = len(kept) - nb * global_batch
        if extra:
            drop = torch.randperm(len(kept), generator=gen)[:extra]
            keep_mask = torch.ones(len(kept), dtype=torch.bool)
            keep_mask[drop] = False
            kept = kept[keep_mask]
        # group by label in a random label order, then deal round-robin to the nb batches
        label_order = torch.randperm(int(self.labels.max()) + 1, generator=gen)
        rank_of_label = torch.empty_like(label_order)
        rank_of_label[label_order] = torch.arange(len(label_order))
        kept = kept[rank_of_label[self.labels[kept]].argsort(stable=True)]
        slots = kept.view(global_batch, nb).T  # item j -> batch j mod nb
        batches = slots[torch.randperm(nb, generator=gen)]
        out: list[list[int]] = []
        for batch in batches:
            batch = batch[torch.randperm(global_batch, generator=gen)]
            out += [chunk.tolist() for chunk in batch.split(self.batch_size)]
        return out

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches_for(self.seed + self.epoch)
        rank = sdist.rank() if self.num_replicas > 1 else 0
        self.epoch += 1
        return iter(batches[rank :: self.num_replicas])

    def __len__(self) -> int:
        return self.num_batches


def load_labels(path: str, num_samples: int) -> Tensor:
    """One int label per sample from a ``.npy`` file (no pickled objects), checked.

    Raises:
        ValueError: another file type, a non-integer or non-1-D array, or a length other than
            ``num_samples``.

    Examples:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "labels.npy")
        >>> np.save(path, np.array([2, 0, 1]))
        >>> load_labels(path, 3).tolist()
        [2, 0, 1]
    """
    if not str(path).lower().endswith(".npy"):
        raise ValueError(f"{path}: (pseudo-)labels are read from a .npy array of ints.")
    array = np.load(path, allow_pickle=False)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: expected a 1-D integer array (one label per sample), got {array.dtype} "
            f"{array.shape}."
        )
    if len(array) != num_samples:
        raise ValueError(
            f"{path} holds {len(array)} labels for {num_samples} samples; it must give one per "
            "training sample, in the order of the ids `selfsup embed` writes."
        )
    return torch.from_numpy(array.astype(np.int64))

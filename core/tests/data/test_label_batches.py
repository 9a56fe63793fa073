"""DistinctLabelBatchSampler: no label twice in a (global) batch, a fixed pass length,
deterministic passes, exact resume through ResumableLoader."""

from __future__ import annotations

import pytest
import torch

from selfsup.data import DistinctLabelBatchSampler
from selfsup.experiment import ResumableLoader


def _labels(seed: int = 0) -> torch.Tensor:
    # skewed clusters: one label holds a third of the samples
    gen = torch.Generator().manual_seed(seed)
    rest = torch.randint(1, 40, (200,), generator=gen)
    return torch.cat([torch.zeros(100, dtype=torch.long), rest])


def test_every_batch_holds_distinct_labels_and_the_pass_length_is_fixed() -> None:
    labels = _labels()
    sampler = DistinctLabelBatchSampler(labels, batch_size=16, seed=3)
    counts = torch.bincount(labels)
    expected = max(p for p in range(1, 300 // 16 + 1) if int(counts.clamp(max=p).sum()) >= 16 * p)
    assert len(sampler) == expected
    seen_across_passes = set()
    for key in range(5):
        batches = sampler.batches_for(key)
        assert len(batches) == expected and all(len(b) == 16 for b in batches)
        flat = [i for b in batches for i in b]
        assert len(set(flat)) == len(flat)  # no sample twice in a pass
        for b in batches:
            assert len(set(labels[b].tolist())) == 16
        seen_across_passes |= set(flat)
        assert batches == sampler.batches_for(key)  # a pure function of the key
    assert sampler.batches_for(0) != sampler.batches_for(1)
    # the big label shows a different subset each pass, so more of it is seen over passes
    big = {i for i in seen_across_passes if i < 100}
    assert len(big) > expected


def test_unlabelled_samples_are_their_own_label_and_too_few_labels_are_refused() -> None:
    labels = [-1, -1, -1, 0, 0, 1]
    sampler = DistinctLabelBatchSampler(labels, batch_size=4)
    for b in sampler.batches_for(0):
        real = [labels[i] for i in b if labels[i] >= 0]
        assert len(set(real)) == len(real)
    with pytest.raises(ValueError, match="at least that many distinct labels"):
        DistinctLabelBatchSampler([0, 0, 1, 1], batch_size=3)
    with pytest.raises(ValueError, match="1-D sequence of ints"):
        DistinctLabelBatchSampler(torch.rand(5), batch_size=2)


def test_ranks_share_one_global_batch_of_distinct_labels() -> None:
    labels = _labels(1)
    sampler = DistinctLabelBatchSampler(labels, batch_size=8, num_replicas=2)
    batches = sampler.batches_for(7)
    assert len(batches) == 2 * len(sampler)
    # ResumableLoader deals batch i to rank i mod 2: step s of the ranks is batches 2s, 2s + 1
    for step in range(len(sampler)):
        both = batches[2 * step] + batches[2 * step + 1]
        assert len(set(labels[both].tolist())) == 16


def test_resumable_loader_replays_the_planned_passes() -> None:
    labels = _labels(2)
    data = torch.arange(len(labels))
    sampler = DistinctLabelBatchSampler(labels, batch_size=10)
    loader = ResumableLoader(data, batch_size=10, batch_plan=sampler.batches_for, seed=5)
    first = [b.tolist() for b in loader]
    assert len(first) == len(loader) == len(sampler)
    for b in first:
        assert len(set(labels[b].tolist())) == 10
    again = ResumableLoader(data, batch_size=10, batch_plan=sampler.batches_for, seed=5)
    assert [b.tolist() for b in again] == first

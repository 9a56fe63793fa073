"""Two gloo processes: the streaming logQ estimate follows the global batch on every rank."""

from __future__ import annotations

import pytest
import torch

from selfsup.testing.distributed import run_on_ranks
from selfsup_recsys.frequency import StreamingFrequencyEstimator

pytestmark = pytest.mark.distributed

WORLD = 2


def _stream() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    # skewed ids, repeats inside a batch and across the two halves of a batch
    return [(torch.rand(12, generator=gen) ** 3 * 50).long() for _ in range(6)]


def _estimator() -> StreamingFrequencyEstimator:
    return StreamingFrequencyEstimator(num_buckets=64, alpha=0.2, num_hashes=2, initial_gap=10.0)


def _train_on_half(rank: int, world: int) -> dict[str, torch.Tensor]:
    estimator = _estimator()
    for batch in _stream():
        estimator(batch.chunk(world)[rank])
    return {k: v.clone() for k, v in estimator.state_dict().items()}


def test_every_rank_holds_the_single_process_state() -> None:
    single = _estimator()
    for batch in _stream():
        single(batch)
    for state in run_on_ranks(_train_on_half, world_size=WORLD):
        for name, value in single.state_dict().items():
            torch.testing.assert_close(state[name], value, rtol=0, atol=0)
    # the stream is one the halves disagree on: without the gather the ranks would differ
    local = _estimator()
    for batch in _stream():
        local(batch.chunk(WORLD)[0])
    assert not torch.equal(local.gap, single.gap)

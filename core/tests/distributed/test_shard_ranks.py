"""Two gloo processes: a ShardLoader gives each rank its own shards and the same batch count."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfsup.data.shards import ShardLoader, write_shards
from selfsup.testing.distributed import run_on_ranks

pytestmark = pytest.mark.distributed


def _decode(sample) -> int:
    return int(sample["txt"])


def _read(rank: int, world: int, folder: str) -> list[list[int]]:
    loader = ShardLoader(folder, _decode, batch_size=3, num_workers=2, seed=4)
    loader.set_epoch(2)
    return [b.tolist() for b in loader]


def test_ranks_read_disjoint_samples_in_equal_numbers(tmp_path: Path) -> None:
    samples = ({"__key__": f"{i:04d}", "txt": str(i)} for i in range(95))
    write_shards(samples, tmp_path, samples_per_shard=8)  # 12 shards: 11 of 8, one of 7
    ranks = run_on_ranks(_read, (str(tmp_path),), world_size=2)
    # 4 global workers: each gets 3 shards, the budget is the 3 smallest (7 + 8 + 8) -> 7 batches
    assert [len(r) for r in ranks] == [14, 14]
    seen = [v for r in ranks for b in r for v in b]
    assert len(seen) == len(set(seen)) == 2 * 14 * 3

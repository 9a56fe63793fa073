"""MemoryQueue: first in, first out, only real keys, resumable, the same queue on every rank."""

from __future__ import annotations

import pytest
import torch

from selfsup.teachers import MemoryQueue
from selfsup.testing.distributed import run_on_ranks


def _keys(start: int, n: int) -> torch.Tensor:
    return torch.arange(start, start + n, dtype=torch.float32)[:, None].repeat(1, 2)


def test_the_queue_keeps_the_newest_keys_and_never_placeholders() -> None:
    queue = MemoryQueue(size=5, dim=2, normalize=False)
    assert queue.keys().shape == (0, 2) and len(queue) == 0
    queue.push(_keys(0, 3))
    assert queue.keys()[:, 0].tolist() == [0, 1, 2]
    queue.push(_keys(3, 4))  # wraps: 5, 6 overwrite 0, 1
    assert sorted(queue.keys()[:, 0].tolist()) == [2, 3, 4, 5, 6] and len(queue) == 5
    queue.push(_keys(10, 7))  # more than it holds: the newest five
    assert sorted(queue.keys()[:, 0].tolist()) == [12, 13, 14, 15, 16]


def test_keys_are_a_snapshot_detached_and_normalised() -> None:
    queue = MemoryQueue(size=4, dim=2)
    key = torch.tensor([[3.0, 4.0]], requires_grad=True)
    queue.push(key)
    snapshot = queue.keys()
    torch.testing.assert_close(snapshot, torch.tensor([[0.6, 0.8]]))
    assert not snapshot.requires_grad
    queue.push(torch.tensor([[0.0, 2.0]]))
    torch.testing.assert_close(snapshot, torch.tensor([[0.6, 0.8]]))  # unchanged by the push
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        queue.push(torch.ones(3))


def test_a_restored_queue_continues_where_it_was() -> None:
    queue = MemoryQueue(size=4, dim=2, normalize=False)
    queue.push(_keys(0, 3))
    restored = MemoryQueue(size=4, dim=2, normalize=False)
    restored.load_state_dict(queue.state_dict())
    assert len(restored) == 3
    for q in (queue, restored):
        q.push(_keys(3, 2))
    torch.testing.assert_close(restored.keys(), queue.keys())
    assert "filled=4" in repr(restored)


def _push_on_rank(rank: int, world: int) -> torch.Tensor:
    queue = MemoryQueue(size=8, dim=2, normalize=False)
    queue.push(_keys(10 * rank, 2))
    queue.push(_keys(10 * rank + 2, 2))
    return queue.keys()


@pytest.mark.distributed
def test_every_rank_holds_every_ranks_keys_in_rank_order() -> None:
    first, second = run_on_ranks(_push_on_rank)
    torch.testing.assert_close(first, second)
    assert first[:, 0].tolist() == [0, 1, 10, 11, 2, 3, 12, 13]

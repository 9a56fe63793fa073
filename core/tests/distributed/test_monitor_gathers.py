"""Two gloo processes: what monitors and probes gather equals one process on all the data, and
the distributed helpers they (and the losses' count weighting) are built from."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from selfsup.distributed import (
    broadcast_from_zero,
    gather_round_robin,
    gather_rows,
    global_mean_weight,
)
from selfsup.metrics import rankme
from selfsup.metrics.callbacks import RankMeMonitor
from selfsup.metrics.probes import ClassificationProbe, ProbeContext
from selfsup.testing.distributed import run_on_ranks

pytestmark = pytest.mark.distributed

WORLD = 2
SIZES = [3, 5, 2, 4, 1]  # five probe batches of uneven sizes: rank 0 gets 0, 2, 4; rank 1 1, 3


def _batches() -> list[torch.Tensor]:
    return [torch.full((n, 2), float(i)) + torch.arange(n)[:, None] for i, n in enumerate(SIZES)]


def _probe_data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(30) % 3
    x = 3.0 * torch.randn(3, 8, generator=gen)[y] + torch.randn(30, 8, generator=gen)
    return x, y


class _Data:
    def probe_dataloaders(self):
        x, y = _probe_data()
        return (
            DataLoader(TensorDataset(x[:20], y[:20]), batch_size=3),
            DataLoader(TensorDataset(x[20:], y[20:]), batch_size=4),
        )


def _probe_context(embedded: list[int]) -> ProbeContext:
    weight = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))

    def embed(x: torch.Tensor) -> torch.Tensor:
        embedded.append(x.shape[0])
        return x @ weight

    return ProbeContext("t", None, _Data(), embed, torch.device("cpu"))


class _Logs:
    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log(self, name, value, **kwargs) -> None:
        self.logged[name] = value


def _on_ranks(rank: int, world: int) -> dict:
    mine = [b for i, b in enumerate(_batches()) if i % world == rank]
    rows = gather_rows(torch.full((rank + 1, 3), float(rank)))
    only_first = gather_round_robin(_batches()[:1] if rank == 0 else [])
    embedded: list[int] = []
    probe = ClassificationProbe("both", k=3, linear_kwargs={"epochs": 20})(_probe_context(embedded))
    monitor = RankMeMonitor(every_n_steps=1, max_samples=64)
    gen = torch.Generator().manual_seed(10 + rank)
    monitor._buffers = {"t": [torch.randn(6, 4, generator=gen)]}
    logs = _Logs()
    monitor._log(logs)
    return {
        "rows": rows,
        "ordered": gather_round_robin(mine),
        "only_first": only_first,
        "broadcast": broadcast_from_zero({"rank": rank}),
        "probe": probe,
        "embedded": embedded,
        "rankme": logs.logged["t/rankme"],
        "weight": global_mean_weight(torch.tensor([3, 1][rank]), torch.float64),
    }


@pytest.fixture(scope="module")
def ranks() -> list[dict]:
    return run_on_ranks(_on_ranks, world_size=WORLD)


def test_rows_of_uneven_counts_are_gathered_rank_by_rank(ranks) -> None:
    expected = torch.tensor([[0.0] * 3, [1.0] * 3, [1.0] * 3])
    for out in ranks:
        torch.testing.assert_close(out["rows"], expected, rtol=0, atol=0)


def test_round_robin_batches_come_back_in_their_order(ranks) -> None:
    for out in ranks:
        torch.testing.assert_close(out["ordered"], torch.cat(_batches()), rtol=0, atol=0)
        # a rank holding no batch still takes part and gets the others' rows
        torch.testing.assert_close(out["only_first"], _batches()[0], rtol=0, atol=0)


def test_broadcast_gives_rank_zeros_object_everywhere(ranks) -> None:
    assert [out["broadcast"] for out in ranks] == [{"rank": 0}] * WORLD


def test_the_probe_scores_what_one_process_scores_and_embeds_half_each(ranks) -> None:
    embedded: list[int] = []
    single = ClassificationProbe("both", k=3, linear_kwargs={"epochs": 20})(
        _probe_context(embedded)
    )
    assert sum(embedded) == 30
    for out in ranks:
        assert out["probe"] == pytest.approx(single, abs=1e-6)
    # 20 train rows in batches of 3 (7 batches) and 10 test rows in batches of 4 (3 batches):
    # rank 0 embeds batches 0, 2, 4, 6 and 0, 2; rank 1 batches 1, 3, 5 and 1, then (FSDP makes
    # an embedding a collective) one spare batch per loader so both embed equally often
    assert [out["embedded"] for out in ranks] == [[3, 3, 3, 2, 4, 2], [3, 3, 3, 3, 4, 4]]


def test_rankme_sees_every_ranks_rows(ranks) -> None:
    rows = [
        torch.randn(6, 4, generator=torch.Generator().manual_seed(10 + r)) for r in range(WORLD)
    ]
    expected = float(rankme(torch.cat(rows)))
    for out in ranks:
        assert out["rankme"] == pytest.approx(expected, rel=1e-6)


def test_count_weights_make_the_ranks_average_the_global_mean(ranks) -> None:
    # rank 0 averages 3 items, rank 1 one item: W * c_r / sum(c) = 1.5 and 0.5
    assert [float(out["weight"]) for out in ranks] == [1.5, 0.5]
    assert all(out["weight"].dtype == torch.float64 for out in ranks)
    means = [2.0, 6.0]  # (a + b + c) / 3 and d / 1 with a + b + c = 6, d = 6: global mean 3
    assert sum(m * float(out["weight"]) for m, out in zip(means, ranks)) / 2 == 3.0

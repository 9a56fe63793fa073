"""Two gloo processes: FSDP2 over the shared transformer trunk, one step on half batches, equals
one process on the whole batch (every parameter, gathered back from its shards)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfsup.encoders.transformer import TransformerTrunk
from selfsup.experiment.fsdp import shard_transformer_blocks
from selfsup.losses import info_nce
from selfsup.testing.distributed import run_on_ranks

pytestmark = pytest.mark.distributed


class _TokenSimCLR(nn.Module):
    """Two noisy copies of token sequences through the trunk, mean-pooled, InfoNCE (gathered)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(5, 16)
        self.trunk = TransformerTrunk(dim=16, depth=2, num_heads=4)
        self.head = nn.Linear(16, 8)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        za = self.head(self.trunk(self.embed(a)).mean(1))
        zb = self.head(self.trunk(self.embed(b)).mean(1))
        return info_nce(za, zb, 0.5)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(8, 6, 5, generator=gen, dtype=torch.float64)
    return a, a + 0.1 * torch.randn(8, 6, 5, generator=gen, dtype=torch.float64)


def _step(model: nn.Module, a: torch.Tensor, b: torch.Tensor) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = model(a, b)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _sharded(rank: int, world: int) -> dict:
    from torch.distributed.device_mesh import init_device_mesh

    torch.manual_seed(0)
    model = _TokenSimCLR().double()
    units = shard_transformer_blocks(model, init_device_mesh("cpu", (world,)))
    local_rows = next(iter(model.parameters())).to_local().shape[0]
    a, b = (x.chunk(world)[rank] for x in _batch())
    loss = _step(model, a, b)
    full = {k: v.full_tensor().detach() for k, v in model.state_dict().items()}
    return {"loss": loss, "state": full, "units": units, "local_rows": local_rows}


def test_one_fsdp_step_on_two_processes_equals_one_process() -> None:
    torch.manual_seed(0)
    model = _TokenSimCLR().double()
    loss = _step(model, *_batch())
    ranks = run_on_ranks(_sharded, world_size=2)
    assert [r["units"] for r in ranks] == [2, 2]  # one unit per trunk block
    assert ranks[0]["local_rows"] == 8  # the (16, 5) embedding: 8 rows per rank
    assert abs(sum(r["loss"] for r in ranks) / 2 - loss) < 1e-12
    for name, value in model.state_dict().items():
        for r in ranks:
            torch.testing.assert_close(r["state"][name], value, rtol=0, atol=1e-12)

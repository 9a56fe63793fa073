"""GraphMAE, the graph main method, under DDP: full-graph training gives every rank the whole
graph (a one-graph data set), and one step on two gloo processes equals one process —
parameters and loss — because every rank draws the same masks from the same seed."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from selfsup.testing.step_equivalence import StepCase, check_step_equivalence
from selfsup_graph.methods.graphmae import GraphMAE

pytestmark = pytest.mark.distributed


def _method() -> GraphMAE:
    # the paper's model at toy width: GAT encoder and decoder, [MASK] token plus substitution
    return GraphMAE(in_channels=6, hidden_channels=8, num_heads=2, replace_rate=0.25)


def _ring() -> Data:
    gen = torch.Generator().manual_seed(4)
    n = 16
    src = torch.arange(n)
    edge_index = torch.cat(
        [torch.stack([src, (src + 1) % n]), torch.stack([(src + 1) % n, src])], dim=1
    )
    return Data(x=torch.randn(n, 6, generator=gen), edge_index=edge_index)


def _whole_graph(batch: Data, rank: int, world: int) -> Data:
    return batch


def test_graphmae_step_on_two_processes_equals_one() -> None:
    result = check_step_equivalence(StepCase("graphmae", _method, _ring, shard=_whole_graph))
    assert result.loss_error < 1e-6
    assert result.param_error < 1e-6
    assert result.rank_spread == 0.0

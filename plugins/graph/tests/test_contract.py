"""selfsup-graph passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import Data

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_graph.methods.grace import GRACE


def ring(n: int, f: int, generator: torch.Generator) -> Data:
    src = torch.arange(n)
    dst = (src + 1) % n
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    return Data(x=torch.randn(n, f, generator=generator), edge_index=edge_index)


class TestGraphPlugin(PluginContract):
    plugin_name = "graph"
    distribution = "selfsup-graph"
    modality = "graph"


class TestGRACE(MethodContract):
    method_cls = GRACE
    modality = "graph"

    def make_method(self) -> Method:
        return GRACE(in_channels=6, hidden_channels=8, out_channels=4, projection_hidden=8)

    def make_batch(self, generator: torch.Generator) -> Any:
        return ring(10, 6, generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        good = ring(10, 6, torch.Generator().manual_seed(0))
        return [
            ((good.x, good.edge_index), "torch_geometric.data.Data"),
            (Data(x=good.x[:, :5], edge_index=good.edge_index), r"shape \(N, 6\)"),
            (Data(edge_index=good.edge_index, num_nodes=10), r"shape \(N, 6\)"),
            (Data(x=good.x.long(), edge_index=good.edge_index), "floating-point"),
            (Data(x=good.x, edge_index=good.edge_index.t()), r"\(2, E\)"),
            (Data(x=good.x, edge_index=good.edge_index.int()), "int64"),
            (Data(x=good.x, edge_index=good.edge_index + 5), "node ids"),
            (Data(x=good.x[:1], edge_index=torch.zeros(2, 0, dtype=torch.long)), "at least 2"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return ring(7, 6, generator), 7

"""selfsup-graph passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import Batch, Data

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_graph.methods.bgrl import BGRL
from selfsup_graph.methods.dgi import DGI
from selfsup_graph.methods.grace import GRACE
from selfsup_graph.methods.graphcl import GraphCL
from selfsup_graph.methods.graphmae import GraphMAE, GraphMAE2, GraphMAEGraphLevel
from selfsup_graph.methods.mvgrl import MVGRL


def ring(n: int, f: int, generator: torch.Generator) -> Data:
    src = torch.arange(n)
    dst = (src + 1) % n
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    return Data(x=torch.randn(n, f, generator=generator), edge_index=edge_index)


def graph_malformations(f: int) -> list[tuple[Any, str]]:
    """Batches every graph method must refuse (node features of width ``f``)."""
    good = ring(10, f, torch.Generator().manual_seed(0))
    return [
        ((good.x, good.edge_index), "torch_geometric.data.Data"),
        (Data(x=good.x[:, :-1], edge_index=good.edge_index), rf"shape \(N, {f}\)"),
        (Data(x=good.x.long(), edge_index=good.edge_index), "floating-point"),
        (Data(x=good.x, edge_index=good.edge_index.t()), r"\(2, E\)"),
        (Data(x=good.x, edge_index=good.edge_index.int()), "int64"),
        (Data(x=good.x, edge_index=good.edge_index + 5), "node ids"),
        (
            Data(
                x=good.x.index_fill(0, torch.tensor([4]), float("nan")), edge_index=good.edge_index
            ),
            r"non-finite values in 1 node \(node 4",
        ),
        (Data(x=good.x[:0], edge_index=torch.zeros(2, 0, dtype=torch.long)), "no nodes"),
    ]


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
            *graph_malformations(6),
            (Data(edge_index=good.edge_index, num_nodes=10), r"shape \(N, 6\)"),
            (Data(x=good.x[:1], edge_index=torch.zeros(2, 0, dtype=torch.long)), "at least 2"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return ring(7, 6, generator), 7

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        graph = ring(7, 6, generator)
        return graph.x, graph.edge_index


class TestBGRL(TestGRACE):
    method_cls = BGRL

    def make_method(self) -> Method:
        return BGRL(in_channels=6, hidden_channels=8, out_channels=4, predictor_hidden=8)


class TestDGI(TestGRACE):
    method_cls = DGI

    def make_method(self) -> Method:
        return DGI(in_channels=6, hidden_channels=8)


class TestMVGRL(TestGRACE):
    method_cls = MVGRL

    def make_method(self) -> Method:
        return MVGRL(in_channels=6, hidden_channels=8)


class TestGraphMAE(MethodContract):
    """GraphMAE as published (GAT encoder and decoder, fixed re-mask, token + substitution)."""

    method_cls = GraphMAE
    modality = "graph"

    def make_method(self) -> Method:
        return GraphMAE(in_channels=6, hidden_channels=8, num_heads=2, replace_rate=0.25)

    def make_batch(self, generator: torch.Generator) -> Any:
        return ring(12, 6, generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        good = ring(10, 6, torch.Generator().manual_seed(0))
        return [
            *graph_malformations(6),
            (Data(edge_index=good.edge_index, num_nodes=10), "no node features"),
            (Data(x=good.x[:1], edge_index=torch.zeros(2, 0, dtype=torch.long)), "masks no node"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return ring(7, 6, generator), 7

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        graph = ring(7, 6, generator)
        return graph.x, graph.edge_index


class TestGraphMAEWithGCN(TestGraphMAE):
    """The pluggable encoders: GCN encoder with a GIN decoder."""

    def make_method(self) -> Method:
        return GraphMAE(
            in_channels=6, hidden_channels=8, encoder="gcn", decoder="gin", norm="layernorm"
        )


class TestGraphMAE2Options(TestGraphMAE):
    """GraphMAE2's options: multi-view random re-mask and EMA latent prediction."""

    method_cls = GraphMAE2

    def make_method(self) -> Method:
        return GraphMAE2(
            in_channels=6,
            hidden_channels=8,
            num_heads=2,
            remask="random",
            num_remask=2,
            latent_weight=0.5,
            momentum=0.9,
            projector_hidden=5,
        )


class TestGraphMAEGraphLevel(MethodContract):
    """Graph-level pre-training: batches of many small graphs, pooled embeddings."""

    method_cls = GraphMAEGraphLevel
    modality = "graph"

    def make_method(self) -> Method:
        return GraphMAEGraphLevel(in_channels=6, hidden_channels=8, num_layers=2)

    def make_batch(self, generator: torch.Generator) -> Any:
        return Batch.from_data_list([ring(n, 6, generator) for n in (5, 6, 7)])

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return graph_malformations(6)

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return Batch.from_data_list([ring(n, 6, generator) for n in (4, 5)]), 2

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        graphs = Batch.from_data_list([ring(n, 6, generator) for n in (4, 5)])
        return graphs.x, graphs.edge_index


class TestGraphCL(TestGraphMAEGraphLevel):
    """GraphCL: batches of small graphs, two augmented copies each."""

    method_cls = GraphCL

    def make_method(self) -> Method:
        return GraphCL(in_channels=6, hidden_channels=8, num_layers=2)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        one = Batch.from_data_list([ring(5, 6, torch.Generator().manual_seed(0))])
        return [*graph_malformations(6), (one, "at least 2 graphs")]

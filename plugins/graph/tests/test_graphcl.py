"""GraphCL: the loss against a float64 loop written from the paper (values and gradients), the
augmented views, the layer-concatenated readout and learning on two classes of graphs."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.nn import global_add_pool

from selfsup.losses import info_nce
from selfsup.metrics import linear_probe
from selfsup_graph.data.synthetic import synthetic_graph_dataset
from selfsup_graph.methods import GraphCL


def _graphcl_reference(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """GraphCL's loss, graph by graph: the other view's other graphs are the only negatives and
    the positive is left out of the denominator."""
    n = z1.shape[0]
    total = 0.0
    for i in range(n):
        sims = [torch.dot(z1[i], z2[k]) / (z1[i].norm() * z2[k].norm()) / tau for k in range(n)]
        negatives = sum(torch.exp(sims[k]) for k in range(n) if k != i)
        total = total - torch.log(torch.exp(sims[i]) / negatives)
    return total / n


def test_loss_is_graphcls_objective_in_float64_values_and_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    got = info_nce(z1, z2, 0.2, decoupled=True)
    want = _graphcl_reference(z1, z2, 0.2)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(got, (z1, z2)), torch.autograd.grad(want, (z1, z2))):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_training_loss_is_that_objective_on_the_projected_views() -> None:
    graphs = Batch.from_data_list(synthetic_graph_dataset(6, num_features=4))
    torch.manual_seed(0)
    method = GraphCL(in_channels=4, hidden_channels=8, num_layers=2).eval()  # fixed BN stats
    torch.manual_seed(2)
    out = method.training_losses(graphs)
    torch.manual_seed(2)
    items = graphs.to_data_list()
    views = [
        Batch.from_data_list([method.augment(g, name) for g in items])
        for name in method.augmentations
    ]
    z1, z2 = (method.projector(method.readout(v)) for v in views)
    torch.testing.assert_close(out["loss"], info_nce(z1, z2, 0.2, decoupled=True))


def test_views_change_the_graphs_as_named() -> None:
    graph = synthetic_graph_dataset(1, num_features=4, min_nodes=20, max_nodes=20)[0]
    method = GraphCL(in_channels=4, aug_ratio=0.25)
    torch.manual_seed(0)
    assert method.augment(graph, "subgraph").num_nodes == 15  # 1 - 0.25 of the nodes, connected
    dropped = [method.augment(graph, "drop_nodes").num_nodes for _ in range(50)]
    assert 12 <= sum(dropped) / 50 <= 18 and min(dropped) >= 1  # about 25 % removed
    masked = method.augment(graph, "mask_features").x
    rows = (masked == 0).all(1)
    assert rows.any() and torch.equal(masked[~rows], graph.x[~rows])  # whole nodes masked
    assert method.augment(graph, "drop_edges").edge_index.shape[1] < graph.edge_index.shape[1]
    assert method.augment(graph, "none").num_nodes == 20


def test_readout_concatenates_every_layers_sum_pool() -> None:
    graphs = Batch.from_data_list(synthetic_graph_dataset(4, num_features=4))
    method = GraphCL(in_channels=4, hidden_channels=8, num_layers=3).eval()
    outs = method.encoder.layer_outputs(graphs.x, graphs.edge_index)
    assert len(outs) == 3
    torch.testing.assert_close(outs[-1], method.encoder(graphs.x, graphs.edge_index))
    want = torch.cat([global_add_pool(h, graphs.batch) for h in outs], dim=1)
    torch.testing.assert_close(method.embed(graphs), want)
    assert method.embed(graphs).shape == (4, 24)


def test_bad_settings_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="augmentations"):
        GraphCL(in_channels=4, augmentations=("drop_nodes", "rotate"))
    with pytest.raises(ValueError, match="two views"):
        GraphCL(in_channels=4, augmentations=("drop_nodes",))


def test_graphcl_learns_to_separate_two_classes_of_graphs() -> None:
    data = synthetic_graph_dataset(120, num_features=4, seed=3)
    for g in data:  # leave the structure as the only signal: identical node features
        g.x = torch.ones(g.num_nodes, 4)
    train, test = Batch.from_data_list(data[:80]), Batch.from_data_list(data[80:])
    torch.manual_seed(0)
    method = GraphCL(in_channels=4, hidden_channels=16, num_layers=3)

    def accuracy() -> float:
        method.eval()
        with torch.no_grad():
            a, b = method.embed(train), method.embed(test)
        method.train()
        return linear_probe(a, train.y, b, test.y).accuracy

    before = accuracy()
    opt = torch.optim.Adam(method.parameters(), lr=0.01)
    for _ in range(30):
        loss = method.training_losses(train)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert accuracy() >= max(0.9, before), before

"""GRACE: the two corruptions and the loss against the paper's formula."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from selfsup.losses import nt_xent
from selfsup_graph.augment import drop_edges, drop_feature_columns
from selfsup_graph.encoders import GCNEncoder
from selfsup_graph.methods import GRACE


def _graph(n: int = 12, f: int = 6, e: int = 40, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    return Data(
        x=torch.randn(n, f, generator=g), edge_index=torch.randint(0, n, (2, e), generator=g)
    )


def test_feature_masking_zeroes_whole_columns() -> None:
    x = torch.rand(50, 200) + 0.1
    torch.manual_seed(0)
    out = drop_feature_columns(x, 0.3)
    dropped = (out == 0).all(0)
    kept = (out == x).all(0)
    assert bool((dropped | kept).all())  # every column entirely kept or entirely zero
    assert 0.15 < dropped.float().mean() < 0.45
    assert bool((x > 0).all())  # input untouched


def test_feature_masking_with_zero_probability_is_identity() -> None:
    x = torch.randn(5, 4)
    assert torch.equal(drop_feature_columns(x, 0.0), x)


def test_edge_dropping_keeps_an_ordered_subset() -> None:
    edge_index = torch.stack([torch.arange(400), torch.arange(400).flip(0)])
    torch.manual_seed(0)
    out = drop_edges(edge_index, 0.4)
    kept = out[0]  # sources are unique, so they identify the kept columns
    assert torch.equal(out, edge_index[:, kept])
    assert bool((kept[1:] > kept[:-1]).all())
    assert 0.5 < out.shape[1] / 400 < 0.7
    assert torch.equal(drop_edges(edge_index, 0.0), edge_index)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_corruption_probability_is_validated(p: float) -> None:
    with pytest.raises(ValueError):
        drop_feature_columns(torch.ones(2, 2), p)


def _grace_reference(u: torch.Tensor, v: torch.Tensor, tau: float) -> torch.Tensor:
    """The GRACE objective J written out with loops in float64 (arXiv 2006.04131, eq. 1-2)."""
    u = torch.nn.functional.normalize(u.double(), dim=1)
    v = torch.nn.functional.normalize(v.double(), dim=1)
    n = len(u)

    def ell(a: torch.Tensor, b: torch.Tensor, i: int) -> torch.Tensor:
        pos = torch.exp(a[i] @ b[i] / tau)
        inter = sum(torch.exp(a[i] @ b[k] / tau) for k in range(n) if k != i)
        intra = sum(torch.exp(a[i] @ a[k] / tau) for k in range(n) if k != i)
        return -torch.log(pos / (pos + inter + intra))

    return sum(ell(u, v, i) + ell(v, u, i) for i in range(n)) / (2 * n)


def test_loss_is_the_grace_objective_on_the_projections() -> None:
    method = GRACE(
        in_channels=6, hidden_channels=8, out_channels=4, projection_hidden=8, temperature=0.5
    )
    graph = _graph()
    torch.manual_seed(7)
    loss = method.training_losses(graph)["loss"]

    torch.manual_seed(7)
    h1 = method.encoder(*method.view(graph.x, graph.edge_index, 0))
    h2 = method.encoder(*method.view(graph.x, graph.edge_index, 1))
    u, v = method.projector(h1), method.projector(h2)
    torch.testing.assert_close(loss, nt_xent(u, v, 0.5))
    torch.testing.assert_close(loss.double(), _grace_reference(u, v, 0.5), atol=1e-5, rtol=1e-5)


def test_views_use_their_own_rates() -> None:
    method = GRACE(
        in_channels=300, drop_edge_1=0.0, drop_edge_2=0.0, drop_feature_1=0.0, drop_feature_2=0.9
    )
    x, ei = torch.rand(3, 300) + 0.1, torch.tensor([[0, 1], [1, 2]])
    torch.manual_seed(0)
    x1, e1 = method.view(x, ei, 0)
    x2, _ = method.view(x, ei, 1)
    assert torch.equal(x1, x) and torch.equal(e1, ei)
    assert (x2 == 0).all(0).float().mean() > 0.8


def test_batched_graphs_are_one_graph_of_disjoint_components() -> None:
    method = GRACE(in_channels=6, hidden_channels=8, out_channels=4).eval()
    graphs = [_graph(n=5, e=8, seed=s) for s in range(3)]
    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        together = method.embed(batch)
        apart = torch.cat([method.embed(g) for g in graphs])
    torch.testing.assert_close(together, apart, atol=1e-6, rtol=1e-5)
    assert method.training_losses(batch)["loss"].isfinite()


def test_encoder_layer_sizes() -> None:
    enc = GCNEncoder(6, hidden_channels=10, out_channels=4, num_layers=3, activation="prelu")
    assert [(c.in_channels, c.out_channels) for c in enc.convs] == [(6, 10), (10, 10), (10, 4)]
    assert enc(torch.randn(5, 6), torch.tensor([[0, 1], [1, 2]])).shape == (5, 4)


# The projector's checkpoint layout before it became a core ProjectionHead (hard-coded on
# purpose: a change here breaks every GRACE checkpoint saved so far).
GRACE_PROJECTOR_KEYS = {
    "projector.0.weight": (8, 4),  # Linear(out_channels, projection_hidden)
    "projector.0.bias": (8,),
    "projector.2.weight": (4, 8),  # Linear(projection_hidden, out_channels), after the ELU
    "projector.2.bias": (4,),
}


def test_projector_checkpoint_of_the_hand_written_layout_loads_strictly() -> None:
    from torch import nn

    from selfsup.encoders import ProjectionHead

    method = GRACE(in_channels=6, hidden_channels=8, out_channels=4, projection_hidden=8)
    assert isinstance(method.projector, ProjectionHead)
    assert [type(m).__name__ for m in method.projector] == ["Linear", "ELU", "Linear"]
    state = method.state_dict()
    got = {k: tuple(v.shape) for k, v in state.items() if k.startswith("projector.")}
    assert got == GRACE_PROJECTOR_KEYS
    torch.manual_seed(3)
    old = nn.Sequential(nn.Linear(4, 8), nn.ELU(), nn.Linear(8, 4))
    saved = {**state, **{f"projector.{k}": v.clone() for k, v in old.state_dict().items()}}
    method.load_state_dict(saved, strict=True)
    h = torch.randn(7, 4)
    torch.testing.assert_close(method.projector(h), old(h), rtol=0, atol=0)

"""MVGRL: the PPR diffusion against its power series, the cross-view objective written out, the
diffusion cache and learning on a block-model graph."""

from __future__ import annotations

import pytest
import torch

from selfsup_graph.augment import ppr_diffusion
from selfsup_graph.data.synthetic import synthetic_node_graph
from selfsup_graph.evaluation import node_linear_probe
from selfsup_graph.methods import MVGRL, dgi_loss


def _ppr_series(edge_index: torch.Tensor, n: int, alpha: float, terms: int = 400):
    """PPR as its power series alpha * sum_k ((1 - alpha) T)^k, in float64, loop by loop."""
    adj = torch.eye(n, dtype=torch.float64)
    for s, t in edge_index.t().tolist():
        adj[t, s] = 1.0
    deg = adj.sum(1)
    transition = adj / torch.sqrt(deg[:, None] * deg[None, :])
    total, power = torch.zeros(n, n, dtype=torch.float64), torch.eye(n, dtype=torch.float64)
    for _ in range(terms):
        total += power
        power = (1 - alpha) * power @ transition
    return alpha * total


def test_ppr_diffusion_is_the_personalised_pagerank_series() -> None:
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 0, 0, 0], [1, 0, 2, 1, 3, 2, 0, 3, 0, 1]])
    s = ppr_diffusion(edge_index, 5, alpha=0.2)  # node 4 isolated; a self-loop and a duplicate
    want = _ppr_series(edge_index, 5, 0.2)
    torch.testing.assert_close(s.double(), want, rtol=1e-5, atol=1e-6)
    assert s[4, 4] == pytest.approx(1.0) and s[4, :4].abs().max() == 0  # isolated: itself only


def test_ppr_refuses_bad_alpha_and_graphs_too_large_for_a_dense_matrix() -> None:
    with pytest.raises(ValueError, match="alpha"):
        ppr_diffusion(torch.zeros(2, 0, dtype=torch.long), 3, alpha=0.0)
    with pytest.raises(ValueError, match="dense PPR diffusion of 30000 nodes"):
        ppr_diffusion(torch.zeros(2, 0, dtype=torch.long), 30_000)


def test_loss_contrasts_each_view_with_the_other_views_summary() -> None:
    graph = synthetic_node_graph(num_nodes=20, num_features=8)
    torch.manual_seed(0)
    method = MVGRL(in_channels=8, hidden_channels=6)
    torch.manual_seed(4)
    out = method.training_losses(graph)
    torch.manual_seed(4)
    perm = torch.randperm(20)
    enc = method.encoder
    h_a, h_d = enc.views(graph.x, graph.edge_index)
    c_a, c_d = enc.views(graph.x[perm], graph.edge_index)
    s_a, s_d = torch.sigmoid(h_a.mean(0)), torch.sigmoid(h_d.mean(0))
    # the reference's four score sets in one binary cross-entropy
    w = method.weight
    logits = torch.cat([h_d @ w @ s_a, h_a @ w @ s_d, c_d @ w @ s_a, c_a @ w @ s_d])
    labels = torch.cat([torch.ones(40), torch.zeros(40)])
    want = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    torch.testing.assert_close(out["loss"], want)
    torch.testing.assert_close(
        out["loss"], 0.5 * (dgi_loss(h_d, c_d, s_a, w) + dgi_loss(h_a, c_a, s_d, w))
    )
    # the diffusion view is S X W_d + b_d through PReLU, with S the PPR matrix
    s = ppr_diffusion(graph.edge_index, 20, 0.2)
    manual = enc.diffusion_act(s @ enc.diffusion(graph.x) + enc.diffusion_bias)
    torch.testing.assert_close(h_d, manual)
    torch.testing.assert_close(method.embed(graph), h_a + h_d)


def test_the_diffusion_is_cached_per_graph_and_rebuilt_for_another() -> None:
    method = MVGRL(in_channels=8, hidden_channels=6)
    g1 = synthetic_node_graph(num_nodes=20, num_features=8, seed=0)
    g2 = synthetic_node_graph(num_nodes=20, num_features=8, seed=1)
    s1 = method.encoder.diffusion_matrix(g1.edge_index, 20)
    assert method.encoder.diffusion_matrix(g1.edge_index.clone(), 20) is s1
    s2 = method.encoder.diffusion_matrix(g2.edge_index, 20)
    torch.testing.assert_close(s2, ppr_diffusion(g2.edge_index, 20))
    assert not torch.equal(s1, s2)


def test_mvgrl_learns_the_blocks_of_a_block_model_graph() -> None:
    graph = synthetic_node_graph(num_nodes=150, num_features=30, seed=1)
    torch.manual_seed(0)
    method = MVGRL(in_channels=30, hidden_channels=32)

    def probe() -> float:
        method.eval()
        with torch.no_grad():
            emb = method.embed(graph)
        method.train()
        return node_linear_probe(
            emb, graph.y, graph.train_mask, graph.val_mask, graph.test_mask, seed=0
        ).test_acc

    before = probe()
    opt = torch.optim.Adam(method.parameters(), lr=5e-3)
    for _ in range(50):
        loss = method.training_losses(graph)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = probe()
    assert after > max(0.9, before + 0.05), (before, after)

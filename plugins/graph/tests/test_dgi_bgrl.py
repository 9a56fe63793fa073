"""DGI and BGRL: the objectives against float64 references written from the papers (values and
gradients), the corruptions and views the methods feed them, and learning on a block-model graph."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from selfsup.teachers import EMATeacher
from selfsup_graph.data.synthetic import synthetic_node_graph
from selfsup_graph.evaluation import node_linear_probe
from selfsup_graph.methods import BGRL, DGI, dgi_loss


def _dgi_reference(h: torch.Tensor, h_neg: torch.Tensor, s: torch.Tensor, w: torch.Tensor):
    """DGI Eq. 1 in float64, node by node: D(h, s) = sigmoid(h^T W s)."""
    total = 0.0
    for row in h:
        total = total + torch.log(torch.sigmoid(row @ w @ s))
    for row in h_neg:
        total = total + torch.log(1 - torch.sigmoid(row @ w @ s))
    return -total / (h.shape[0] + h_neg.shape[0])


def test_dgi_loss_matches_the_paper_in_float64_values_and_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    h = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    h_neg = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    s = torch.rand(5, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    got = dgi_loss(h, h_neg, s, w)
    want = _dgi_reference(h, h_neg, s, w)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, b in zip(
        torch.autograd.grad(got, (h, h_neg, s, w)), torch.autograd.grad(want, (h, h_neg, s, w))
    ):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_dgi_scores_the_graph_against_its_row_shuffled_corruption() -> None:
    torch.manual_seed(0)
    graph = synthetic_node_graph(num_nodes=30, num_features=12)
    method = DGI(in_channels=12, hidden_channels=8)
    torch.manual_seed(3)
    out = method.training_losses(graph)
    torch.manual_seed(3)
    perm = torch.randperm(30)
    h = method.encoder(graph.x, graph.edge_index)
    h_neg = method.encoder(graph.x[perm], graph.edge_index)  # same edges, shuffled features
    want = dgi_loss(h, h_neg, torch.sigmoid(h.mean(0)), method.weight)
    torch.testing.assert_close(out["loss"], want)
    assert method.encoder.convs[0].out_channels == 8 and len(method.encoder.convs) == 1


def _bgrl_reference(z1, z2, h1, h2):
    """BGRL's symmetric loss in float64, node by node: sum over both directions of
    mean_i (2 - 2 cos(z_i, h_i)), the target side held constant."""
    total = 0.0
    for z, h in ((z1, h2), (z2, h1)):
        for zi, hi in zip(z, h.detach()):
            total = total + (2 - 2 * (zi @ hi) / (zi.norm() * hi.norm())) / z.shape[0]
    return total


def test_bgrl_loss_is_the_symmetric_bootstrap_objective_in_float64() -> None:
    torch.manual_seed(0)
    graph = synthetic_node_graph(num_nodes=24, num_features=10)
    method = BGRL(in_channels=10, hidden_channels=12, out_channels=6, predictor_hidden=12)
    method = method.double()
    graph.x = graph.x.double()
    torch.manual_seed(5)
    out = method.training_losses(graph)
    torch.manual_seed(5)
    v1, v2 = method.view(graph.x, graph.edge_index, 0), method.view(graph.x, graph.edge_index, 1)
    z1, z2 = method.predictor(method.encoder(*v1)), method.predictor(method.encoder(*v2))
    h1, h2 = method.target_encoder(*v1), method.target_encoder(*v2)
    want = _bgrl_reference(z1, z2, h1, h2)
    torch.testing.assert_close(out["loss"], want, rtol=1e-10, atol=1e-10)
    params = list(method.encoder.parameters()) + list(method.predictor.parameters())
    got_grads = torch.autograd.grad(out["loss"], params)
    want_grads = torch.autograd.grad(want, params)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    # no gradient reaches the target encoder: it only moves by EMA
    assert all(p.grad is None for p in method.target_encoder.parameters())


def test_bgrl_views_use_their_own_rates_and_the_target_is_an_ema_of_the_encoder() -> None:
    method = BGRL(in_channels=6, hidden_channels=8, out_channels=4, predictor_hidden=8)
    assert method.drop_edge == (0.5, 0.4) and method.drop_feature == (0.2, 0.1)
    assert isinstance(method.target_encoder, EMATeacher)
    before = copy.deepcopy(method.target_encoder.state_dict())
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(1.0)
    method.target_encoder.update(step=1, total_steps=10)
    after = method.target_encoder.state_dict()
    moved = [
        k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])
    ]
    assert moved  # the EMA step pulled the target towards the changed encoder


def _train(method, graph: Data, steps: int, lr: float) -> None:
    opt = torch.optim.Adam(method.parameters(), lr=lr)
    for step in range(steps):
        loss = method.training_losses(graph)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        for module in method.modules():
            if isinstance(module, EMATeacher):
                module.update(step=step + 1, total_steps=steps)


def test_both_methods_learn_the_blocks_of_a_block_model_graph() -> None:
    graph = synthetic_node_graph(num_nodes=150, num_features=30, seed=1)
    for build in (
        lambda: DGI(in_channels=30, hidden_channels=32),
        lambda: BGRL(in_channels=30, hidden_channels=32, out_channels=16, predictor_hidden=32),
    ):
        torch.manual_seed(0)
        method = build()
        method.eval()
        with torch.no_grad():
            before = _probe(method.embed(graph), graph)
        method.train()
        _train(method, graph, steps=50, lr=5e-3)
        method.eval()
        with torch.no_grad():
            after = _probe(method.embed(graph), graph)
        # a random GCN already smooths features over the blocks; training must add to it
        assert after > max(0.9, before + 0.15), (type(method).__name__, before, after)


def _probe(embeddings: torch.Tensor, graph: Data) -> float:
    result = node_linear_probe(
        embeddings, graph.y, graph.train_mask, graph.val_mask, graph.test_mask, seed=0
    )
    return result.test_acc


def test_dgi_logits_are_bilinear_in_node_and_summary() -> None:
    h, s, w = torch.randn(3, 4), torch.rand(4), torch.randn(4, 4)
    logits = h @ w @ s
    want = F.binary_cross_entropy_with_logits(logits, torch.ones(3)) * 0.5 + 0.5 * (
        F.binary_cross_entropy_with_logits(logits, torch.zeros(3))
    )
    torch.testing.assert_close(dgi_loss(h, h, s, w), want)

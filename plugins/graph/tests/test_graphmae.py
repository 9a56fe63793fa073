"""GraphMAE / GraphMAE2: masking, re-masking, loss and architecture against the papers."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from selfsup.experiment.method import MalformedBatchError
from selfsup.losses import scaled_cosine_error
from selfsup.masking import apply_node_mask, node_mask
from selfsup_graph.data import neighbor_loader, synthetic_graph_dataset, synthetic_node_graph
from selfsup_graph.encoders import GATEncoder, GATLayer
from selfsup_graph.methods import GraphMAE, GraphMAE2, GraphMAEGraphLevel


def _graph(n: int = 12, f: int = 6, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n)
    ring = torch.stack([src, (src + 1) % n])
    extra = torch.randint(0, n, (2, n), generator=g)
    edge_index = torch.cat([ring, ring.flip(0), extra, extra.flip(0)], dim=1)
    return Data(x=torch.rand(n, f, generator=g) + 0.1, edge_index=edge_index)


def _reference_loss(method: GraphMAE, data: Data, seed: int) -> torch.Tensor:
    """GraphMAE's mask_attr_prediction written out step by step, SCE with loops in float64."""
    edge_index = method.graph(data).edge_index  # self-loops removed, symmetrised, de-duplicated
    torch.manual_seed(seed)
    n = data.num_nodes
    m = node_mask(n, method.mask_rate, replace_rate=method.replace_rate)
    x = data.x.clone()
    for v in m.token_nodes.tolist():
        x[v] = method.enc_mask_token[0]
    for v, s in zip(m.noise_nodes.tolist(), m.noise_source.tolist(), strict=True):
        x[v] = data.x[s]
    h = method.encoder(x, edge_index)
    rep = method.encoder_to_decoder(h)
    rep = rep.clone()
    rep[m.mask_nodes] = 0.0  # re-mask
    recon = method.decoder(rep, edge_index).double()
    target = data.x.double()
    total = torch.zeros((), dtype=torch.float64)
    for v in m.mask_nodes.tolist():
        cos = torch.dot(recon[v], target[v]) / (recon[v].norm() * target[v].norm())
        total = total + (1.0 - cos) ** method.alpha
    return total / len(m.mask_nodes)


@pytest.mark.parametrize("replace_rate", [0.0, 0.3])
def test_loss_is_sce_on_masked_nodes_after_remasking(replace_rate: float) -> None:
    torch.manual_seed(0)
    method = GraphMAE(in_channels=6, hidden_channels=8, num_heads=2, replace_rate=replace_rate)
    with torch.no_grad():
        method.enc_mask_token.normal_()  # a non-zero token, so its rows are visible
    method.eval()  # no dropout: both computations see the same function
    data = _graph()
    torch.manual_seed(3)
    loss = method.training_losses(data)["loss"]
    expected = _reference_loss(method, data, seed=3)
    torch.testing.assert_close(loss.double(), expected, atol=1e-5, rtol=1e-5)


def test_exact_mask_count_and_zero_initialised_learnable_token() -> None:
    method = GraphMAE(in_channels=6, hidden_channels=8, num_heads=2)
    assert isinstance(method.enc_mask_token, torch.nn.Parameter)
    assert method.enc_mask_token.shape == (1, 6) and not method.enc_mask_token.any()
    assert method.encoder_to_decoder.bias is None
    for n in (7, 10, 13):
        torch.manual_seed(n)
        m = node_mask(n, method.mask_rate, replace_rate=method.replace_rate)
        assert m.mask_nodes.numel() == int(0.5 * n)
    loss = method.train().training_losses(_graph())["loss"]
    loss.backward()
    assert method.enc_mask_token.grad is not None and method.enc_mask_token.grad.abs().sum() > 0


def test_replace_rate_rounding_to_zero_substitutes_nothing() -> None:
    """int(0.05 * 5) = 0 noise nodes: every masked node gets the token (GraphMAE's perm[-0:]
    would have substituted all of them)."""
    torch.manual_seed(0)
    m = node_mask(10, 0.5, replace_rate=0.05)
    assert m.noise_nodes.numel() == 0 and m.token_nodes.numel() == 5


def test_gat_encoder_matches_graphmae_architecture() -> None:
    method = GraphMAE(in_channels=20, hidden_channels=16, num_layers=2, num_heads=4)
    enc, dec = method.encoder, method.decoder
    assert isinstance(enc, GATEncoder) and isinstance(dec, GATEncoder)
    widths = [
        (layer.conv.heads, layer.conv.out_channels, layer.conv.concat) for layer in enc.layers
    ]
    assert widths == [(4, 4, True), (4, 4, True)]  # heads concatenated in every layer
    for layer in enc.layers:  # PReLU (one slope) on every encoder layer, the last one too
        assert isinstance(layer.act, torch.nn.PReLU) and layer.act.weight.numel() == 1
        assert layer.in_drop == 0.2 and layer.conv.dropout == 0.1
        assert layer.conv.negative_slope == 0.2
        assert not layer.conv.bias.any()
    assert len(dec.layers) == 1 and dec.layers[0].conv.heads == 1
    assert dec.layers[0].out_channels == 20
    assert isinstance(dec.layers[0].act, torch.nn.Identity)  # decoder: no activation/norm


def test_xavier_normal_initialisation_with_relu_gain() -> None:
    torch.manual_seed(0)
    layer = GATLayer(400, 300, heads=1)
    w = layer.conv.lin.weight
    expected_std = math.sqrt(2.0) * math.sqrt(2.0 / (400 + 300))
    assert abs(float(w.detach().std()) - expected_std) / expected_std < 0.05


def test_residual_is_taken_from_the_layer_input() -> None:
    """GraphMAE's DGL code adds res_fc(h_dst) of the (dropped) input, not of W h (the bug of
    its PyG branch). With equal widths the residual is the identity."""
    torch.manual_seed(0)
    layer = GATLayer(8, 4, heads=2, residual=True).eval()
    x, ei = torch.randn(6, 8), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    plain = GATLayer(8, 4, heads=2, residual=False).eval()
    plain.load_state_dict(layer.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(layer(x, ei) - plain(x, ei), x)


@pytest.mark.parametrize("heads,channels,concat", [(3, 5, True), (1, 40, True), (2, 40, False)])
@pytest.mark.parametrize("targets", [False, True])
def test_fused_gat_equals_pyg_gatconv(heads: int, channels: int, concat: bool, targets: bool):
    """The fused sparse-CSR path computes GATConv's function and gradients, also for a subset
    of output rows and with the aggregate-then-project order (channels > input width)."""
    torch.manual_seed(0)
    n = 25
    x = torch.randn(n, 12, dtype=torch.float64)
    ei = torch.randint(0, n, (2, 80))
    rows = torch.randperm(n)[:9] if targets else None
    layer = GATLayer(12, channels, heads=heads, concat=concat, residual=True).double().eval()
    outs = []
    for fused in (True, False):
        layer.fused = fused
        xx = x.clone().requires_grad_()
        out = layer(xx, ei, rows)
        grads = torch.autograd.grad(out.pow(2).sum(), [xx, *layer.parameters()])
        outs.append((out, grads))
    torch.testing.assert_close(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(a, b)


def test_decoding_only_masked_rows_equals_full_decoding() -> None:
    torch.manual_seed(0)
    method = GraphMAE(in_channels=30, hidden_channels=8, num_heads=2).eval()
    g = method.graph(_graph(f=30))
    rep = torch.randn(12, 8)
    nodes = torch.tensor([3, 0, 7])
    full = method.decoder(rep, g.edge_index)
    torch.testing.assert_close(method.decode(rep, g, nodes), full[nodes])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mask_rate": 0.0}, "mask_rate"),
        ({"mask_rate": 1.0}, "mask_rate"),
        ({"replace_rate": 1.5}, "cannot be replaced than are masked"),
        ({"alpha": 0.5}, "alpha"),
        ({"hidden_channels": 10, "num_heads": 4}, "divisible"),
        ({"encoder": "sage"}, "encoder"),
        ({"remask_rate": 0.0}, "remask_rate"),
    ],
)
def test_bad_hyper_parameters_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GraphMAE(in_channels=6, **{"hidden_channels": 8, "num_heads": 2, **kwargs})


def test_self_loops_directed_edges_and_isolated_nodes_are_handled() -> None:
    torch.manual_seed(0)
    method = GraphMAE(in_channels=6, hidden_channels=8, num_heads=2).eval()
    x = torch.rand(6, 6)
    directed = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])  # node 4 and 5 isolated
    loops = torch.tensor([[0, 4], [0, 4]])
    messy = Data(x=x, edge_index=torch.cat([directed, loops, directed], dim=1))
    clean = Data(x=x, edge_index=torch.cat([directed, directed.flip(0)], dim=1))
    g = method.graph(messy)
    assert not bool((g.edge_index[0] == g.edge_index[1]).any())  # self-loops removed
    assert g.edge_index.shape[1] == 8  # symmetrised and de-duplicated
    with torch.no_grad():
        torch.testing.assert_close(method.embed(messy), method.embed(clean))
        assert bool(torch.isfinite(method.embed(messy)).all())
    assert torch.isfinite(method.train().training_losses(messy)["loss"])
    kept = GraphMAE(in_channels=6, hidden_channels=8, num_heads=2, undirected=False)
    assert kept.graph(messy).edge_index.shape[1] == 4


def test_graph_without_features_is_refused_with_a_fix() -> None:
    method = GraphMAE(in_channels=6, hidden_channels=8, num_heads=2)
    with pytest.raises(MalformedBatchError, match="OneHotDegree"):
        method.training_losses(Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2))


def test_random_remask_sums_views_with_a_second_token() -> None:
    torch.manual_seed(0)
    method = GraphMAE(
        in_channels=6, hidden_channels=8, num_heads=2, remask="random", num_remask=3
    ).eval()
    assert method.dec_mask_token is not None and not method.dec_mask_token.any()
    data = _graph()
    g = method.graph(data)
    torch.manual_seed(5)
    loss = method.training_losses(data)["loss"]
    # replay: encoder-input mask, then one decoder re-mask per view
    torch.manual_seed(5)
    m = node_mask(12, 0.5, replace_rate=method.replace_rate)
    rep = method.encoder_to_decoder(
        method.encoder(apply_node_mask(data.x, m, method.enc_mask_token), g.edge_index)
    )
    total = 0.0
    for _ in range(3):
        view = node_mask(12, 0.5)
        assert view.mask_nodes.numel() == 6  # share of ALL nodes
        recon = method.decoder(apply_node_mask(rep, view, method.dec_mask_token), g.edge_index)
        total = total + scaled_cosine_error(recon[m.mask_nodes], data.x[m.mask_nodes], 3.0)
    torch.testing.assert_close(loss, total)
    method.train().training_losses(data)["loss"].backward()
    assert method.dec_mask_token.grad is not None


def test_latent_prediction_uses_an_ema_target_of_the_unmasked_graph() -> None:
    torch.manual_seed(0)
    method = GraphMAE2(
        in_channels=6, hidden_channels=8, num_heads=2, latent_weight=0.5, momentum=0.0
    )
    assert method.target_encoder is not None and method.target_projector is not None
    assert all(not p.requires_grad for p in method.target_encoder.teacher_parameters())
    data = _graph()
    out = method.train().training_losses(data)
    torch.testing.assert_close(out["loss"], out["loss_rec"] + 0.5 * out["loss_latent"])
    with torch.no_grad():  # move the student, then a momentum-0 update copies it
        for p in method.encoder.parameters():
            p.add_(0.1)
    method.target_encoder.update(step=1, total_steps=10)
    for t, s in zip(
        method.target_encoder.teacher_parameters(), method.encoder.parameters(), strict=True
    ):
        torch.testing.assert_close(t, s)


def test_ema_delay_keeps_the_target_frozen() -> None:
    method = GraphMAE(
        in_channels=6, hidden_channels=8, num_heads=2, latent_weight=1.0, ema_delay_steps=2
    )
    before = [t.clone() for t in method.target_encoder.teacher_parameters()]
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(1.0)
    assert method.target_encoder.update(step=2, total_steps=10) is None
    for a, b in zip(before, method.target_encoder.teacher_parameters(), strict=True):
        assert torch.equal(a, b)
    assert method.target_encoder.update(step=3, total_steps=10) is not None


def _latent_reference(method: GraphMAE, data: Data, seed: int, target_encoder, target_proj):
    """GraphMAE2's loss_latent in float64: SCE (alpha 1) of predictor(projector(H_masked)) vs
    projector_ema(encoder_ema(X)) over all nodes, with the given target networks."""
    import copy

    g = method.graph(data)
    torch.manual_seed(seed)
    m = node_mask(data.num_nodes, method.mask_rate, replace_rate=method.replace_rate)
    enc = copy.deepcopy(method.encoder).double()
    h = enc(apply_node_mask(data.x.double(), m, method.enc_mask_token.double()), g.edge_index)
    pred = copy.deepcopy(method.predictor).double()(copy.deepcopy(method.projector).double()(h))
    t_enc, t_proj = copy.deepcopy(target_encoder).double(), copy.deepcopy(target_proj).double()
    target = t_proj(t_enc(data.x.double(), g.edge_index))
    total = torch.zeros((), dtype=torch.float64)
    for v in range(data.num_nodes):
        total = total + 1.0 - torch.dot(pred[v], target[v]) / (pred[v].norm() * target[v].norm())
    return total / data.num_nodes


def test_forward_ema_timing_targets_come_from_the_previous_student() -> None:
    # GraphMAE2 (models/edcoder.py) computes the latent targets, then ema_update() inside
    # forward: with momentum 0 the targets of step t are the student of step t-1.
    import copy

    torch.manual_seed(0)
    kw = {"in_channels": 6, "hidden_channels": 8, "num_heads": 2, "latent_weight": 0.5}
    method = GraphMAE2(**kw, momentum=0.0, in_drop=0.0, attn_drop=0.0, ema_timing="forward")
    method.train()
    data = _graph()
    with torch.no_grad():  # student != target at the start, so the test can tell them apart
        for p in method.encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    start_target = copy.deepcopy(method.target_encoder.teacher)
    start_proj = copy.deepcopy(method.target_projector.teacher)
    step0_encoder, step0_proj = copy.deepcopy(method.encoder), copy.deepcopy(method.projector)
    torch.manual_seed(7)
    out0 = method.training_losses(data)
    # step 0 used the initial target, then copied the (pre-step) student into it
    ref0 = _latent_reference(method, data, 7, start_target, start_proj)
    torch.testing.assert_close(out0["loss_latent"].double(), ref0, rtol=1e-5, atol=1e-6)
    for t, s in zip(method.target_encoder.teacher_parameters(), method.encoder.parameters()):
        torch.testing.assert_close(t, s)
    # the experiment layer's after-step update must not move a forward-timed target
    with torch.no_grad():  # an "optimiser step"
        for p in method.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    assert method.target_encoder.update(step=1, total_steps=10) is None
    torch.manual_seed(8)
    out1 = method.training_losses(data)
    ref1 = _latent_reference(method, data, 8, step0_encoder, step0_proj)
    torch.testing.assert_close(out1["loss_latent"].double(), ref1, rtol=1e-5, atol=1e-6)
    # the default timing uses the current student's own weights as the target at step 1
    after = GraphMAE2(**kw, momentum=0.0, in_drop=0.0, attn_drop=0.0).train()
    after.load_state_dict(method.state_dict(), strict=False)
    after.target_encoder.teacher.load_state_dict(method.encoder.state_dict())
    after.target_projector.teacher.load_state_dict(method.projector.state_dict())
    torch.manual_seed(8)
    now = after.training_losses(data)["loss_latent"].double()
    ref_now = _latent_reference(after, data, 8, after.encoder, after.projector)
    torch.testing.assert_close(now, ref_now, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(now, ref1)  # the two timings differ


def test_forward_ema_timing_delay_and_eval_and_schedule() -> None:
    torch.manual_seed(0)
    method = GraphMAE2(
        in_channels=6, hidden_channels=8, num_heads=2, ema_timing="forward", ema_delay_steps=2
    ).train()
    data = _graph()
    first = [t.clone() for t in method.target_encoder.teacher_parameters()]

    def moved() -> bool:
        params = method.target_encoder.teacher_parameters()
        return any(not torch.equal(a, b) for a, b in zip(first, params, strict=True))

    for step in range(2):  # forwards 0 and 1: GraphMAE2's epoch < delayed_ema_epoch
        with torch.no_grad():
            for p in method.encoder.parameters():
                p.add_(0.1)
        method.training_losses(data)
        assert not moved(), step
    method.eval().training_losses(data)  # evaluation forwards neither update nor count
    assert not moved() and int(method.ema_forward_steps) == 2
    method.train().training_losses(data)  # forward 2 updates (momentum 0)
    assert moved()
    with pytest.raises(ValueError, match="constant numeric momentum"):
        GraphMAE2(
            in_channels=6,
            hidden_channels=8,
            num_heads=2,
            ema_timing="forward",
            momentum="cosine:0.996",
        )
    with pytest.raises(ValueError, match="ema_timing"):
        GraphMAE2(in_channels=6, hidden_channels=8, num_heads=2, ema_timing="before")


def test_graph_level_embeddings_are_pooled_per_graph() -> None:
    torch.manual_seed(0)
    graphs = synthetic_graph_dataset(num_graphs=4, num_features=6)
    method = GraphMAEGraphLevel(in_channels=6, hidden_channels=8, num_layers=2).eval()
    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        together = method.embed(batch)
        apart = torch.cat([method.embed(g) for g in graphs])
    assert together.shape == (4, 8)
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(method.train().training_losses(batch)["loss"])


def test_neighbour_sampled_batches_embed_their_seed_nodes() -> None:
    torch.manual_seed(0)
    data = synthetic_node_graph(num_nodes=60, num_features=12)
    method = GraphMAE(in_channels=12, hidden_channels=8, num_heads=2).eval()
    loader = neighbor_loader(data, [-1, -1], 16, shuffle=False)
    batch = next(iter(loader))
    with torch.no_grad():
        sampled = method.embed(batch)
        full = method.embed(data)
    assert sampled.shape == (16, 8)
    torch.testing.assert_close(sampled, full[batch.n_id[:16]], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(method.train().training_losses(batch)["loss"])


# GraphMAE2's projector layout before it became a core ProjectionHead (hard-coded on purpose:
# a change here breaks every GraphMAE2 checkpoint with latent_weight > 0 saved so far).
LATENT_PROJECTOR_KEYS = {
    "projector.0.weight": (256, 8),  # Linear(hidden_channels, projector_hidden)
    "projector.0.bias": (256,),
    "projector.1.weight": (1,),  # PReLU
    "projector.2.weight": (8, 256),  # Linear(projector_hidden, hidden_channels)
    "projector.2.bias": (8,),
}


def test_latent_projector_checkpoint_of_the_hand_written_layout_loads_strictly() -> None:
    from torch import nn

    from selfsup.encoders import ProjectionHead

    method = GraphMAE2(in_channels=6, hidden_channels=8, num_heads=2, latent_weight=0.5)
    assert isinstance(method.projector, ProjectionHead)
    state = method.state_dict()
    for prefix in ("projector.", "target_projector.teacher."):
        got = {
            "projector." + k[len(prefix) :]: tuple(v.shape)
            for k, v in state.items()
            if k.startswith(prefix)
        }
        assert got == LATENT_PROJECTOR_KEYS, prefix
    torch.manual_seed(3)
    old = nn.Sequential(nn.Linear(8, 256), nn.PReLU(), nn.Linear(256, 8))
    with torch.no_grad():  # PReLU starts at 0.25 everywhere: move it so a mix-up would show
        old[1].weight.fill_(-0.7)
    saved = dict(state)
    for prefix in ("projector.", "target_projector.teacher."):
        saved.update({prefix + k: v.clone() for k, v in old.state_dict().items()})
    method.load_state_dict(saved, strict=True)
    h = torch.randn(7, 8)
    torch.testing.assert_close(method.projector(h), old(h), rtol=0, atol=0)
    with torch.no_grad():
        target = method.target_projector.teacher(h)
    torch.testing.assert_close(target, old(h), rtol=0, atol=0)

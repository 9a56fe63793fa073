"""Tests for selfsup.masking.node (GraphMAE node masking and feature substitution)."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.masking import NodeMask, apply_node_mask, node_mask


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    ("num_nodes", "mask_rate", "replace_rate"),
    [
        (100, 0.5, 0.05),
        (2708, 0.5, 0.05),
        (10, 0.5, 0.1),
        (10, 0.5, 0.0),
        (7, 0.0, 0.5),
        (9, 1.0, 1.0),
    ],
)
def test_exact_counts_and_partition(num_nodes: int, mask_rate: float, replace_rate: float) -> None:
    m = node_mask(num_nodes, mask_rate, replace_rate=replace_rate, generator=_gen(0))
    assert isinstance(m, NodeMask) and m.num_nodes == num_nodes
    n_mask = math.floor(mask_rate * num_nodes + 1e-9)
    n_noise = math.floor(replace_rate * n_mask + 1e-9)
    assert m.mask_nodes.numel() == n_mask and m.keep_nodes.numel() == num_nodes - n_mask
    assert m.noise_nodes.numel() == m.noise_source.numel() == n_noise
    assert m.token_nodes.numel() == n_mask - n_noise
    for t in (m.mask_nodes, m.keep_nodes, m.token_nodes, m.noise_nodes, m.noise_source):
        assert t.dtype == torch.long
    masked, kept = m.mask_nodes.tolist(), m.keep_nodes.tolist()
    assert sorted(masked + kept) == list(range(num_nodes))
    assert sorted(m.token_nodes.tolist() + m.noise_nodes.tolist()) == sorted(masked)
    assert len(set(m.noise_source.tolist())) == n_noise  # drawn without replacement
    assert int(m.mask.sum()) == n_mask and bool(m.mask[m.mask_nodes].all())


def test_zero_noise_nodes_edge_case() -> None:
    # int(0.05 * 5) == 0: GraphMAE's perm[-0:] would turn every masked node into a noise node.
    m = node_mask(10, 0.5, replace_rate=0.05, generator=_gen(1))
    assert m.noise_nodes.numel() == 0 and m.noise_source.numel() == 0
    assert m.token_nodes.numel() == 5
    x = torch.randn(10, 3)
    out = apply_node_mask(x, m, torch.full((1, 3), 7.0))
    assert bool((out[m.token_nodes] == 7.0).all()) and torch.equal(
        out[m.keep_nodes], x[m.keep_nodes]
    )


def test_apply_node_mask_against_loop_reference() -> None:
    x = torch.randn(30, 4, dtype=torch.float64, requires_grad=True)
    token = torch.randn(1, 4, dtype=torch.float64, requires_grad=True)
    m = node_mask(30, 0.6, replace_rate=0.25, generator=_gen(2))
    assert m.noise_nodes.numel() == 4
    x0 = x.detach().clone()
    out = apply_node_mask(x, m, token)
    expected = x.detach().clone()
    for i in m.token_nodes.tolist():
        expected[i] = token.detach()[0]
    for dst, src in zip(m.noise_nodes.tolist(), m.noise_source.tolist(), strict=True):
        expected[dst] = x.detach()[src]
    assert torch.equal(out.detach(), expected)
    assert torch.equal(x.detach(), x0)  # x untouched (out of place)
    g_x, g_tok = torch.autograd.grad(out.sum(), (x, token))
    assert torch.equal(g_tok, torch.full((1, 4), float(m.token_nodes.numel()), dtype=torch.float64))
    counts = torch.zeros(30, dtype=torch.float64)
    counts[m.keep_nodes] += 1
    counts.index_add_(0, m.noise_source, torch.ones(4, dtype=torch.float64))
    assert torch.equal(g_x, counts.unsqueeze(1).expand(30, 4))
    # a 1-D token broadcasts the same way
    assert torch.equal(apply_node_mask(x, m, token[0]), out)


def test_determinism_seeds_and_meta() -> None:
    a = node_mask(50, 0.5, replace_rate=0.2, generator=_gen(3))
    b = node_mask(50, 0.5, replace_rate=0.2, generator=_gen(3))
    c = node_mask(50, 0.5, replace_rate=0.2, generator=_gen(4))
    assert torch.equal(a.mask_nodes, b.mask_nodes) and torch.equal(a.noise_source, b.noise_source)
    assert not torch.equal(a.mask_nodes, c.mask_nodes)
    m = node_mask(50, 0.5, replace_rate=0.2, device="meta")
    out = apply_node_mask(torch.empty(50, 3, device="meta"), m, torch.empty(3, device="meta"))
    assert out.device.type == "meta" and m.noise_nodes.shape == (5,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_nodes": 0}, "num_nodes"),
        ({"mask_rate": 1.5}, "mask_rate"),
        ({"replace_rate": -0.1}, "replace_rate"),
        ({"device": "cuda", "generator": torch.Generator()}, "generator lives on cpu"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"num_nodes": 10, "mask_rate": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        node_mask(**args)


def test_apply_node_mask_bad_inputs() -> None:
    m = node_mask(10, 0.5)
    with pytest.raises(ValueError, match="rows"):
        apply_node_mask(torch.randn(9, 3), m, torch.zeros(3))
    with pytest.raises(ValueError, match="does not broadcast"):
        apply_node_mask(torch.randn(10, 3), m, torch.zeros(4))

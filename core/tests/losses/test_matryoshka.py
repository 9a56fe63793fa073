"""matryoshka: weighted sum of a loss over nested prefixes, gradients, validation."""

from __future__ import annotations

import functools

import pytest
import torch

from selfsup.losses import MatryoshkaLoss, NTXentLoss, matryoshka, nt_xent

TOL = 1e-10


def _leaf(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


def _pair_loss(a, b):
    """A simple embedding loss whose prefix behaviour is easy to write by hand."""
    return ((a - b) ** 2).sum() + (a * b).sum() ** 2


def _ref(z1, z2, dims, weights):
    """sum_m c_m * L(z1[:, :d_m], z2[:, :d_m]), written with loops over features."""
    total = 0.0
    for d, w in zip(dims, weights, strict=True):
        sq = sum((z1[i, f] - z2[i, f]) ** 2 for i in range(z1.shape[0]) for f in range(d))
        dot = sum(z1[i, f] * z2[i, f] for i in range(z1.shape[0]) for f in range(d))
        total = total + w * (sq + dot**2)
    return total


@pytest.mark.parametrize("weights", [None, (1.0, 0.5, 0.25), (0.0, 2.0, 1.0)])
def test_matches_prefix_reference(weights):
    z1, z2 = _leaf(3, 8, seed=0), _leaf(3, 8, seed=1)
    dims = (2, 4, 6)
    loss = matryoshka(_pair_loss, z1, z2, dims=dims, weights=weights)
    ref = _ref(z1, z2, dims, weights or (1.0, 1.0, 1.0))  # default: unnormalised sum
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    got = torch.autograd.grad(loss, (z1, z2), retain_graph=True)
    want = torch.autograd.grad(ref, (z1, z2))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)
        assert (g[:, 6:] == 0).all()  # features beyond the largest prefix are untouched


def test_prefix_gradient_is_weight_times_nested_count():
    # L = sum_m w_m * sum(z[:, :d_m]) -> dL/dz_f = sum of w_m over prefixes containing f
    z = _leaf(2, 5, seed=2)
    loss = matryoshka(lambda a: a.sum(), z, dims=(1, 3, 5), weights=(4.0, 2.0, 1.0))
    (g,) = torch.autograd.grad(loss, z)
    expected = torch.tensor([7.0, 3.0, 3.0, 1.0, 1.0], dtype=torch.float64).expand(2, 5)
    torch.testing.assert_close(g, expected)


def test_works_with_a_contrastive_loss_and_tokens():
    z1, z2 = _leaf(4, 6, seed=3), _leaf(4, 6, seed=4)
    loss = matryoshka(functools.partial(nt_xent, temperature=0.2), z1, z2, dims=(3, 6))
    ref = nt_xent(z1[:, :3], z2[:, :3], 0.2) + nt_xent(z1, z2, 0.2)
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    tokens = _leaf(2, 3, 6, seed=5)
    out = matryoshka(lambda t: t.pow(2).mean(), tokens, dims=(2, 4))
    torch.testing.assert_close(out, tokens[..., :2].pow(2).mean() + tokens[..., :4].pow(2).mean())


def test_all_zero_weights_keep_the_graph():
    z = _leaf(2, 4, seed=6)
    loss = matryoshka(lambda a: a.sum(), z, dims=(2, 4), weights=(0.0, 0.0))
    assert loss.item() == 0.0 and loss.requires_grad


def test_module_registers_the_wrapped_loss():
    z1, z2 = _leaf(4, 6, seed=7), _leaf(4, 6, seed=8)
    inner = NTXentLoss(0.3, chunk_size=3)
    mod = MatryoshkaLoss(inner, dims=[2, 6], weights=[0.5, 1.0])
    assert mod.loss_module is inner and "loss_module" in dict(mod.named_children())
    expected = 0.5 * nt_xent(z1[:, :2], z2[:, :2], 0.3) + nt_xent(z1, z2, 0.3)
    torch.testing.assert_close(mod(z1, z2), expected, atol=TOL, rtol=0)
    assert "dims=(2, 6)" in repr(mod)


def test_bad_inputs():
    z = torch.randn(3, 8)
    with pytest.raises(ValueError, match="strictly ascending"):
        matryoshka(_pair_loss, z, z, dims=(4, 2))
    with pytest.raises(ValueError, match="strictly ascending"):
        matryoshka(_pair_loss, z, z, dims=(4, 4))
    with pytest.raises(ValueError, match="exceed embedding 1's feature size D = 6"):
        matryoshka(_pair_loss, z, z[:, :6], dims=(2, 8))
    with pytest.raises(ValueError, match="non-empty sequence"):
        matryoshka(_pair_loss, z, z, dims=())
    with pytest.raises(ValueError, match="non-empty sequence"):
        matryoshka(_pair_loss, z, z, dims=8)
    with pytest.raises(ValueError, match="positive ints"):
        matryoshka(_pair_loss, z, z, dims=(0, 4))
    with pytest.raises(ValueError, match="positive ints"):
        matryoshka(_pair_loss, z, z, dims=(2.0, 4))
    with pytest.raises(ValueError, match="one entry per dim"):
        matryoshka(_pair_loss, z, z, dims=(2, 4), weights=(1.0,))
    with pytest.raises(ValueError, match="finite and >= 0"):
        matryoshka(_pair_loss, z, z, dims=(2, 4), weights=(1.0, -1.0))
    with pytest.raises(ValueError, match="at least one embedding"):
        matryoshka(_pair_loss, dims=(2, 4))
    with pytest.raises(ValueError, match="embedding 0 must be a tensor"):
        matryoshka(_pair_loss, [1.0, 2.0], dims=(1,))
    with pytest.raises(ValueError, match="must be callable"):
        MatryoshkaLoss("nt_xent", dims=(2,))
    with pytest.raises(ValueError, match="strictly ascending"):
        MatryoshkaLoss(NTXentLoss(), dims=(8, 4))


def test_model_dims_are_checked_at_construction_and_prefixes_are_unit_vectors():
    from selfsup.losses import check_matryoshka_dims, matryoshka_prefix

    assert check_matryoshka_dims(None, 8) is None
    assert check_matryoshka_dims([2, 8], 8) == (2, 8)
    with pytest.raises(ValueError, match="exceed the embedding size 8"):
        check_matryoshka_dims([4, 16], 8)
    with pytest.raises(ValueError, match="strictly ascending"):
        check_matryoshka_dims([8, 4], 8)
    z = _leaf(5, 8, seed=3)
    p = matryoshka_prefix(z, 3)
    expected = z[:, :3] / z[:, :3].norm(dim=1, keepdim=True)
    torch.testing.assert_close(p, expected, rtol=0, atol=TOL)
    with pytest.raises(ValueError, match=r"prefix size must be in \[1, 8\]"):
        matryoshka_prefix(z, 9)

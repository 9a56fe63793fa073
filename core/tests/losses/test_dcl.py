"""dcl against the paper's Eq. 6 by loops: ONE log-sum-exp over the 2N-2 negatives, DCLW."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.losses import DCLLoss, dcl, vmf_weights

TOL = 1e-10


def _leaf(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


def _unit(v):
    return v / torch.sqrt(sum(v[d] ** 2 for d in range(v.shape[0])))


def _dot(a, b):
    return sum(a[d] * b[d] for d in range(a.shape[0]))


def _ref_vmf(z1, z2, sigma):
    """w_i = 2 - N exp(<z1_i, z2_i>/sigma) / sum_j exp(<z1_j, z2_j>/sigma), detached."""
    with torch.no_grad():
        n = z1.shape[0]
        sims = [_dot(_unit(z1[i]), _unit(z2[i])) / sigma for i in range(n)]
        total = sum(math.exp(float(s)) for s in sims)
        return [2.0 - n * math.exp(float(s)) / total for s in sims]


def _ref_anchors(z1, z2, tau, weights=None):
    """L_i^(k) = -w_i s(z_i^1, z_i^2)/tau
    + log sum_{l in {1,2}, j != i} exp(s(z_i^k, z_j^l)/tau)."""
    n = z1.shape[0]
    views = [[_unit(z1[i]) for i in range(n)], [_unit(z2[i]) for i in range(n)]]
    losses = []
    for k in range(2):
        for i in range(n):
            w = 1.0 if weights is None else weights[i]
            positive = w * _dot(views[0][i], views[1][i]) / tau
            negatives = sum(
                torch.exp(_dot(views[k][i], views[view][j]) / tau)
                for view in range(2)
                for j in range(n)
                if j != i
            )
            losses.append(torch.log(negatives) - positive)
    return torch.stack(losses)


def _check(loss, ref, inputs):
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    got = torch.autograd.grad(loss, inputs, retain_graph=True)
    want = torch.autograd.grad(ref, inputs, retain_graph=True)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("chunk_size", [None, 1, 3, 5, 10, 32])
def test_matches_paper_eq6(weighted, chunk_size):
    z1, z2 = _leaf(5, 4, seed=0), _leaf(5, 4, seed=1)
    weights = _ref_vmf(z1, z2, 0.5) if weighted else None
    loss = dcl(z1, z2, 0.1, weight_fn="vmf" if weighted else None, chunk_size=chunk_size)
    _check(loss, _ref_anchors(z1, z2, 0.1, weights).mean(), [z1, z2])


def test_not_two_separate_logsumexps():
    # lightly's pre-#1827 bug: lse over same-view negatives + lse over other-view negatives.
    z1, z2 = _leaf(6, 4, seed=2), _leaf(6, 4, seed=3)
    a = torch.nn.functional.normalize(z1, dim=1)
    b = torch.nn.functional.normalize(z2, dim=1)
    off = ~torch.eye(6, dtype=torch.bool)
    s00 = (a @ a.T / 0.1).masked_fill(~off, float("-inf"))
    s01 = (a @ b.T / 0.1).masked_fill(~off, float("-inf"))
    buggy = (torch.logsumexp(s00, 1) + torch.logsumexp(s01, 1) - (a * b).sum(1) / 0.1).mean()
    assert (dcl(z1, z2, 0.1) - buggy).abs() > 0.5


def test_dcl_is_decoupled_nt_xent_and_symmetric():
    z1, z2 = _leaf(4, 3, seed=4), _leaf(4, 3, seed=5)
    torch.testing.assert_close(dcl(z1, z2), dcl(z2, z1), atol=TOL, rtol=0)
    # official code returns the sum of both directions = 2N x our mean
    total = _ref_anchors(z1, z2, 0.1).sum() / z1.shape[0]
    torch.testing.assert_close(2 * dcl(z1, z2), total, atol=TOL, rtol=0)


def test_vmf_weights_paper_form_and_detached():
    z1, z2 = _leaf(7, 3, seed=6), _leaf(7, 3, seed=7)
    a = torch.nn.functional.normalize(z1, dim=1)
    b = torch.nn.functional.normalize(z2, dim=1)
    w = vmf_weights(a, b, sigma=0.3)
    torch.testing.assert_close(
        w, torch.tensor(_ref_vmf(z1, z2, 0.3), dtype=torch.float64), atol=TOL, rtol=0
    )
    assert not w.requires_grad
    torch.testing.assert_close(w.mean(), torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("chunk_size", [4, 9])
def test_chunked_equals_dense_larger(chunk_size):
    z1, z2 = _leaf(19, 6, seed=8), _leaf(19, 6, seed=9)
    for weight_fn in (None, "vmf"):
        dense = dcl(z1, z2, 0.2, weight_fn=weight_fn)
        chunked = dcl(z1, z2, 0.2, weight_fn=weight_fn, chunk_size=chunk_size)
        _check(chunked, dense, [z1, z2])


def test_module_matches_function():
    z1, z2 = _leaf(5, 4, seed=10), _leaf(5, 4, seed=11)
    mod = DCLLoss(0.2, weight_fn="vmf", sigma=0.4, chunk_size=3)
    torch.testing.assert_close(
        mod(z1, z2), dcl(z1, z2, 0.2, weight_fn="vmf", sigma=0.4), atol=TOL, rtol=0
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_gather_global_negatives_and_global_weights(fake_rank1, weighted):
    n = 3
    z1, z2 = _leaf(n, 4, seed=12), _leaf(n, 4, seed=13)
    g1, g2 = torch.cat([fake_rank1(z1), z1]), torch.cat([fake_rank1(z2), z2])
    weights = _ref_vmf(g1, g2, 0.5) if weighted else None  # softmax over the global batch
    per_anchor = _ref_anchors(g1, g2, 0.1, weights)
    ref = torch.cat([per_anchor[n : 2 * n], per_anchor[3 * n :]]).mean()
    loss = dcl(z1, z2, 0.1, weight_fn="vmf" if weighted else None, chunk_size=2)
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)


def test_bad_inputs():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="weight_fn must be None"):
        dcl(z, z, weight_fn="softmax")
    with pytest.raises(ValueError, match="sigma must be > 0"):
        dcl(z, z, weight_fn="vmf", sigma=0.0)
    with pytest.raises(ValueError, match="hold 1 sample"):
        dcl(z[:1], z[:1])
    with pytest.raises(ValueError, match="shape mismatch"):
        dcl(z, z[:, :2])
    with pytest.raises(ValueError, match="temperature must be finite and >= 0.001"):
        dcl(z, z, 0)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        dcl(z, z, chunk_size=1.5)
    with pytest.raises(ValueError, match="NaN/inf"):
        dcl(z, torch.full_like(z, float("inf")))
    with pytest.raises(ValueError, match="weight_fn"):
        DCLLoss(weight_fn="VMF")

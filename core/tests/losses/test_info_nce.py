"""info_nce against a loop reference: extra negatives, logQ bias, DCL, chunking, errors."""

from __future__ import annotations

import pytest
import torch

from selfsup.losses import InfoNCELoss, info_nce

TOL = 1e-10


def _leaf(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()


def _unit(v):
    return v / torch.sqrt(sum(v[d] ** 2 for d in range(v.shape[0])))


def _ref_rows(q, k, tau, bias=None, decoupled=False, normalize=True, in_batch=True):
    """Per-query InfoNCE by loops; the positive of query i is key i. Without in-batch
    negatives the other queries' keys j < N leave the sum (MoCo v2)."""
    losses = []
    for i in range(q.shape[0]):
        qi = _unit(q[i]) if normalize else q[i]
        logits = []
        for j in range(k.shape[0]):
            kj = _unit(k[j]) if normalize else k[j]
            s = sum(qi[d] * kj[d] for d in range(q.shape[1])) / tau
            logits.append(s + bias[j] if bias is not None else s)
        kept = [
            j
            for j in range(k.shape[0])
            if not (decoupled and j == i) and (in_batch or j == i or j >= q.shape[0])
        ]
        denom = sum(torch.exp(logits[j]) for j in kept)
        losses.append(torch.log(denom) - logits[i])
    return torch.stack(losses)


def _check(loss, ref, inputs):
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    got = torch.autograd.grad(loss, inputs, retain_graph=True)
    want = torch.autograd.grad(ref, inputs, retain_graph=True)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)


@pytest.mark.parametrize("extra", [0, 3])
@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("chunk_size", [None, 1, 3, 4, 7, 100])
def test_matches_reference(extra, use_bias, decoupled, chunk_size):
    n = 5
    q, k = _leaf(n, 4, seed=0), _leaf(n + extra, 4, seed=1)
    bias = _leaf(n + extra, seed=2) if use_bias else None
    inputs = [q, k] + ([bias] if use_bias else [])
    loss = info_nce(q, k, 0.2, bias=bias, decoupled=decoupled, chunk_size=chunk_size)
    _check(loss, _ref_rows(q, k, 0.2, bias, decoupled).mean(), inputs)


@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("chunk_size", [None, 2])
def test_without_in_batch_negatives_only_the_queue_negates(use_bias, decoupled, chunk_size):
    n = 4
    q, k = _leaf(n, 3, seed=5), _leaf(n + 6, 3, seed=6)
    bias = _leaf(n + 6, seed=7) if use_bias else None
    inputs = [q, k] + ([bias] if use_bias else [])
    loss = info_nce(
        q, k, 0.2, bias=bias, decoupled=decoupled, in_batch_negatives=False, chunk_size=chunk_size
    )
    _check(loss, _ref_rows(q, k, 0.2, bias, decoupled, in_batch=False).mean(), inputs)
    with pytest.raises(ValueError, match="extra negatives"):
        info_nce(q, k[:n], in_batch_negatives=False)


def test_logq_bias_is_added_after_temperature():
    # logQ: bias = -log p_j, so a popular item (large p_j) is pushed down by a fixed amount,
    # independent of the temperature.
    q, k = _leaf(4, 3, seed=3), _leaf(6, 3, seed=4)
    p = torch.tensor([0.5, 0.1, 0.1, 0.1, 0.1, 0.1], dtype=torch.float64)
    for tau in (0.05, 1.0):
        loss = info_nce(q, k, tau, bias=-p.log())
        torch.testing.assert_close(loss, _ref_rows(q, k, tau, -p.log()).mean(), atol=TOL, rtol=0)


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_no_normalize_reductions_and_tensor_temperature(chunk_size):
    q, k = _leaf(4, 3, seed=5, scale=0.5), _leaf(7, 3, seed=6, scale=0.5)
    tau = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    rows = info_nce(q, k, tau, normalize=False, reduction="none", chunk_size=chunk_size)
    ref = _ref_rows(q, k, tau, normalize=False)
    assert rows.shape == (4,)
    _check(rows.sum(), ref.sum(), [q, k, tau])
    total = info_nce(q, k, tau, normalize=False, reduction="sum", chunk_size=chunk_size)
    torch.testing.assert_close(total, ref.sum(), atol=TOL, rtol=0)


@pytest.mark.parametrize("chunk_size", [3, 8, 16])
def test_chunked_equals_dense_larger(chunk_size):
    q, k, bias = _leaf(37, 8, seed=7), _leaf(53, 8, seed=8), _leaf(53, seed=9)
    for decoupled in (False, True):
        dense = info_nce(q, k, 0.1, bias=bias, decoupled=decoupled)
        chunked = info_nce(q, k, 0.1, bias=bias, decoupled=decoupled, chunk_size=chunk_size)
        _check(chunked, dense, [q, k, bias])


def test_module_matches_function():
    q, k, bias = _leaf(5, 4, seed=10), _leaf(8, 4, seed=11), _leaf(8, seed=12)
    mod = InfoNCELoss(0.3, decoupled=True, chunk_size=3)
    torch.testing.assert_close(
        mod(q, k, bias), info_nce(q, k, 0.3, bias=bias, decoupled=True), atol=TOL, rtol=0
    )
    assert "chunk_size=3" in repr(mod)


@pytest.mark.parametrize("chunk_size", [None, 4])
def test_gather_offsets_positive_by_rank(fake_rank1, chunk_size):
    n, extra = 4, 2
    q, k, bias = _leaf(n, 3, seed=13), _leaf(n + extra, 3, seed=14), _leaf(n + extra, seed=15)
    other = fake_rank1
    # Global batch: rank 0's queries/keys first; the extra negatives are shared (not gathered).
    keys = torch.cat([other(k[:n]), k[:n], k[n:]])
    biases = torch.cat([other(bias[:n]), bias[:n], bias[n:]])
    queries = torch.cat([other(q), q])
    ref = _ref_rows(queries, keys, 0.2, biases)[n:].mean()
    loss = info_nce(q, k, 0.2, bias=bias, chunk_size=chunk_size)  # gather=None -> gathers
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    local = info_nce(q, k, 0.2, bias=bias, gather=False, chunk_size=chunk_size)
    torch.testing.assert_close(local, _ref_rows(q, k, 0.2, bias).mean(), atol=TOL, rtol=0)


def test_bad_inputs():
    q, k = torch.randn(4, 3), torch.randn(6, 3)
    with pytest.raises(ValueError, match=r"query must have shape \(N, D\)"):
        info_nce(q[None], k)
    with pytest.raises(ValueError, match="same feature dimension"):
        info_nce(q, torch.randn(6, 5))
    with pytest.raises(ValueError, match="needs at least N rows"):
        info_nce(q, k[:3])
    with pytest.raises(ValueError, match="NaN/inf"):
        info_nce(q, torch.cat([k[:5], torch.full((1, 3), float("nan"))]))
    with pytest.raises(ValueError, match="0 row"):
        info_nce(q[:0], k)
    with pytest.raises(ValueError, match="temperature must be finite and >= 0.001"):
        info_nce(q, k, 0.0)
    with pytest.raises(ValueError, match="temperature must be a float or a one-element"):
        info_nce(q, k, torch.ones(2))
    with pytest.raises(ValueError, match=r"bias must be a tensor of shape \(M,\) = \(6,\)"):
        info_nce(q, k, bias=torch.zeros(4))
    with pytest.raises(ValueError, match="bias contains 1 NaN"):
        info_nce(q, k, bias=torch.tensor([0, 0, 0, 0, 0, float("inf")]))
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        info_nce(q, k, chunk_size=0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        info_nce(q, k, reduction="avg")
    with pytest.raises(ValueError, match="single key and no other negative"):
        info_nce(q[:1], k[:1], decoupled=True)
    with pytest.raises(ValueError, match="single key and no other negative"):
        info_nce(q[:1], k[:1])  # was: loss 0 with a zero gradient, silently
    assert torch.isfinite(info_nce(q[:1], k[:2]))  # one extra negative is enough
    with pytest.raises(ValueError, match="finite and >= 0.001"):
        info_nce(q, k, float("inf"))
    with pytest.raises(ValueError, match="finite and >= 0.001"):
        info_nce(q, k, 1e-5)  # gradients scale with 1 / temperature
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        info_nce(q.tolist(), k)
    with pytest.raises(ValueError, match="temperature must be finite and >= 0.001"):
        InfoNCELoss(-1.0)

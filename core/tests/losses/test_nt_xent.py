"""nt_xent against a loop reference over the 2N anchors (self excluded), chunking, errors."""

from __future__ import annotations

import pytest
import torch

from selfsup.losses import NTXentLoss, nt_xent

TOL = 1e-10


def _leaf(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()


def _unit(v):
    return v / torch.sqrt(sum(v[d] ** 2 for d in range(v.shape[0])))


def _ref_anchors(z1, z2, tau, decoupled=False, normalize=True):
    """Per-anchor NT-Xent, anchors [z1; z2]; positive (a + N) mod 2N; self never in the sum."""
    rows = [z1[i] for i in range(z1.shape[0])] + [z2[i] for i in range(z2.shape[0])]
    if normalize:
        rows = [_unit(r) for r in rows]
    two_n, n = len(rows), z1.shape[0]
    losses = []
    for a in range(two_n):
        p = (a + n) % two_n
        sims = [
            sum(rows[a][d] * rows[b][d] for d in range(z1.shape[1])) / tau for b in range(two_n)
        ]
        denom = sum(
            torch.exp(sims[b]) for b in range(two_n) if b != a and not (decoupled and b == p)
        )
        losses.append(torch.log(denom) - sims[p])
    return torch.stack(losses)


def _check(loss, ref, inputs):
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    got = torch.autograd.grad(loss, inputs, retain_graph=True)
    want = torch.autograd.grad(ref, inputs, retain_graph=True)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("chunk_size", [None, 1, 4, 5, 12, 64])
def test_matches_reference(decoupled, normalize, chunk_size):
    z1, z2 = _leaf(6, 4, seed=0, scale=0.6), _leaf(6, 4, seed=1, scale=0.6)
    loss = nt_xent(z1, z2, 0.5, decoupled=decoupled, normalize=normalize, chunk_size=chunk_size)
    _check(loss, _ref_anchors(z1, z2, 0.5, decoupled, normalize).mean(), [z1, z2])


def test_self_similarity_is_excluded_not_down_weighted():
    # With normalised rows the self-similarity is 1/tau, the largest logit; including it
    # (or masking with a finite constant near it) would change the value noticeably.
    z1, z2 = _leaf(4, 3, seed=2), _leaf(4, 3, seed=3)
    loss = nt_xent(z1, z2, 0.1)
    torch.testing.assert_close(loss, _ref_anchors(z1, z2, 0.1).mean(), atol=TOL, rtol=0)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    with_self = torch.logsumexp(z @ z.T / 0.1, dim=1) - (z * z.roll(4, 0)).sum(1) / 0.1
    assert (with_self.mean() - loss).abs() > 0.1


def test_two_samples_is_enough():
    z1, z2 = _leaf(2, 3, seed=4), _leaf(2, 3, seed=5)
    _check(nt_xent(z1, z2, chunk_size=3), _ref_anchors(z1, z2, 0.5).mean(), [z1, z2])


@pytest.mark.parametrize("chunk_size", [3, 7, 16])
def test_chunked_equals_dense_larger(chunk_size):
    z1, z2 = _leaf(21, 8, seed=6), _leaf(21, 8, seed=7)
    for decoupled in (False, True):
        dense = nt_xent(z1, z2, 0.2, decoupled=decoupled)
        chunked = nt_xent(z1, z2, 0.2, decoupled=decoupled, chunk_size=chunk_size)
        _check(chunked, dense, [z1, z2])


def test_module_matches_function():
    z1, z2 = _leaf(5, 4, seed=8), _leaf(5, 4, seed=9)
    mod = NTXentLoss(0.1, chunk_size=3)
    torch.testing.assert_close(mod(z1, z2), nt_xent(z1, z2, 0.1), atol=TOL, rtol=0)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("chunk_size", [None, 3])
def test_gather_uses_global_negatives_and_rank_offsets(fake_rank1, decoupled, chunk_size):
    n = 3
    z1, z2 = _leaf(n, 4, seed=10), _leaf(n, 4, seed=11)
    other = fake_rank1
    per_anchor = _ref_anchors(
        torch.cat([other(z1), z1]), torch.cat([other(z2), z2]), 0.5, decoupled
    )
    # rank 1 owns anchors n..2n-1 of view 1 and 3n..4n-1 of view 2 (2N_global = 4n rows)
    ref = torch.cat([per_anchor[n : 2 * n], per_anchor[3 * n :]]).mean()
    loss = nt_xent(z1, z2, decoupled=decoupled, chunk_size=chunk_size)
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)


def test_gather_allows_one_sample_per_rank(fake_rank1):
    z1, z2 = _leaf(1, 4, seed=12), _leaf(1, 4, seed=13)
    assert torch.isfinite(nt_xent(z1, z2))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(z1, z2, gather=False)


def test_bad_inputs():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="shape mismatch: z1=\\(4, 3\\), z2=\\(5, 3\\)"):
        nt_xent(z, torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"z1 must have shape \(N, D\), got \(4,\)"):
        nt_xent(z[:, 0], z[:, 0])
    with pytest.raises(ValueError, match="z2 contains 1 NaN/inf"):
        nt_xent(z, torch.cat([z[:3], torch.tensor([[0.0, float("nan"), 0.0]])]))
    with pytest.raises(ValueError, match="hold 1 sample"):
        nt_xent(z[:1], z[:1])
    with pytest.raises(ValueError, match="0 row"):
        nt_xent(z[:0], z[:0])
    with pytest.raises(ValueError, match="temperature must be finite and >= 0.001"):
        nt_xent(z, z, -0.5)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        nt_xent(z, z, chunk_size=-2)
    with pytest.raises(ValueError, match="floating-point"):
        nt_xent(z.long(), z.long())
    with pytest.raises(ValueError, match="chunk_size"):
        NTXentLoss(chunk_size=0)

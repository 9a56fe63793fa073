"""BYOL/DirectPred and (Mixed) Barlow Twins against float64 re-implementations of the papers."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.losses import barlow_twins, negative_cosine
from selfsup_vision.encoders import SmallConvNet
from selfsup_vision.losses import mixed_barlow_regularizer
from selfsup_vision.methods import BYOL, BarlowTwins, DirectPredictor, directpred_weight


def _orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(d, d, generator=torch.Generator().manual_seed(seed)).double()
    )
    return q


def test_directpred_weight_from_known_eigenpairs() -> None:
    # F = Q diag(s) Q^T with known eigenpairs; the paper: p_j = sqrt(s_j / max s) + eps, s < 0 -> 0.
    q = _orthogonal(5, 0)
    s = torch.tensor([4.0, 1.0, 0.25, 0.0, -0.5], dtype=torch.float64)
    corr = q @ torch.diag(s) @ q.T
    eps = 0.1
    p = [math.sqrt(max(v, 0.0) / 4.0) + eps for v in s.tolist()]
    expected = sum(p[j] * torch.outer(q[:, j], q[:, j]) for j in range(5))
    torch.testing.assert_close(directpred_weight(corr, eps), expected)
    # eps = 0: null directions are clamped to 1e-4, never 0.
    w0 = directpred_weight(corr, 0.0)
    torch.testing.assert_close(q[:, 3] @ w0 @ q[:, 3], torch.tensor(1e-4, dtype=torch.float64))


def test_directpred_running_correlation_and_refresh() -> None:
    pred = DirectPredictor(3, rho=0.5, eps=0.1, freq=2, trainable=False)
    g = torch.Generator().manual_seed(0)
    z1, z2, z3, z4 = (torch.randn(6, 3, generator=g) for _ in range(4))
    pred.observe(z1)  # call 0: F initialised by the batch, W still the identity
    f1 = z1.T @ z1 / 6
    torch.testing.assert_close(pred.corr, f1)
    torch.testing.assert_close(pred.weight, torch.eye(3))
    pred.observe(z2)  # call 1: W refreshed from F of call 0, then F updated
    f2 = 0.5 * f1 + 0.5 * (z2.T @ z2 / 6)
    torch.testing.assert_close(pred.corr, f2)
    torch.testing.assert_close(pred.weight, directpred_weight(f1, 0.1))
    pred.observe(z3)  # call 2: W kept
    f3 = 0.5 * f2 + 0.5 * (z3.T @ z3 / 6)
    torch.testing.assert_close(pred.weight, directpred_weight(f1, 0.1))
    pred.observe(z4)  # call 3: refreshed from F of calls 0..2
    torch.testing.assert_close(pred.weight, directpred_weight(f3, 0.1))
    torch.testing.assert_close(pred(z1), z1 @ pred.weight.T)
    assert not any(p.requires_grad for p in pred.parameters())


def test_byol_loss_is_symmetric_negative_cosine_to_the_targets() -> None:
    method = BYOL(SmallConvNet(width=4, out_dim=8), hidden_dim=16, projection_dim=8)
    x = torch.rand(4, 3, 8, 8)
    v1, v2 = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    loss = method.training_losses({"views": [v1, v2]})["loss"]
    p1, p2 = method.predictor(method.projector(method.encoder(torch.cat([v1, v2])))).chunk(2)
    t1, t2 = method.target_projector(method.target_encoder(torch.cat([v1, v2]))).chunk(2)
    torch.testing.assert_close(loss, negative_cosine(p1, t2) + negative_cosine(p2, t1))
    assert method.embed(x).shape == (4, 8)


def test_byol_target_follows_the_ema() -> None:
    method = BYOL(SmallConvNet(width=4, out_dim=8), hidden_dim=16, projection_dim=8, momentum=0.5)
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(1.0)
    before = [p.clone() for p in method.target_encoder.teacher.parameters()]
    method.update_teacher(1, 10)
    for old, new, online in zip(
        before, method.target_encoder.teacher.parameters(), method.encoder.parameters(), strict=True
    ):
        torch.testing.assert_close(new, 0.5 * old + 0.5 * online)


def _mixed_reference(z1, z2, zm, perm, alpha, lam, scale):  # type: ignore[no-untyped-def]
    """Loops over the matrix entries, float64, unbiased std (wgcban/mix-bt main.py)."""
    n, d = z1.shape

    def std(z):  # type: ignore[no-untyped-def]
        mean = [sum(z[i][k] for i in range(n)) / n for k in range(d)]
        sd = [
            math.sqrt(sum((z[i][k] - mean[k]) ** 2 for i in range(n)) / (n - 1)) for k in range(d)
        ]
        return [[(z[i][k] - mean[k]) / sd[k] for k in range(d)] for i in range(n)]

    a, b, m = std(z1.tolist()), std(z2.tolist()), std(zm.tolist())
    bp = [b[j] for j in perm.tolist()]

    def cc(x, y, i, j):  # type: ignore[no-untyped-def]
        return sum(x[r][i] * y[r][j] for r in range(n)) / n

    total = 0.0
    for zk in (a, b):
        for i in range(d):
            for j in range(d):
                gt = alpha * cc(a, zk, i, j) + (1 - alpha) * cc(bp, zk, i, j)
                total += (cc(m, zk, i, j) - gt) ** 2
    return scale * lam * total


def test_mixed_barlow_regularizer_matches_the_reference_formula() -> None:
    g = torch.Generator().manual_seed(1)
    z1, z2, zm = (torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(3))
    perm = torch.tensor([2, 0, 4, 1, 3])
    got = mixed_barlow_regularizer(z1, z2, zm, perm, 0.3, lambda_offdiag=0.02, scale=4.0)
    want = _mixed_reference(z1, z2, zm, perm, 0.3, 0.02, 4.0)
    assert got.item() == pytest.approx(want, rel=1e-10)


def test_mixed_barlow_regularizer_gradients() -> None:
    # Gradients reach all three inputs (nothing detached, as the reference): finite differences.
    g = torch.Generator().manual_seed(2)
    zs = [torch.randn(4, 2, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    perm = torch.tensor([1, 0, 3, 2])
    assert torch.autograd.gradcheck(
        lambda a, b, c: mixed_barlow_regularizer(a, b, c, perm, 0.7), zs
    )


def test_mixed_barlow_regularizer_vanishes_for_linear_embeddings() -> None:
    # If z_mix is exactly the mixture of the standardised embeddings, the regulariser is 0.
    g = torch.Generator().manual_seed(3)
    z1, z2 = (
        torch.randn(6, 3, generator=g, dtype=torch.float64),
        torch.randn(6, 3, generator=g, dtype=torch.float64),
    )
    perm = torch.randperm(6, generator=g)
    alpha = 1.0
    assert mixed_barlow_regularizer(z1, z2, z1.clone(), perm, alpha).item() == pytest.approx(
        0.0, abs=1e-20
    )


def test_mixed_barlow_bad_inputs() -> None:
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="perm"):
        mixed_barlow_regularizer(z, z, z, torch.arange(3), 0.5)
    with pytest.raises(ValueError, match="alpha"):
        mixed_barlow_regularizer(z, z, z, torch.arange(4), 1.5)


def test_barlow_method_adds_the_regulariser_on_the_mixed_views() -> None:
    method = BarlowTwins(
        SmallConvNet(width=4, out_dim=8), hidden_dim=16, projection_dim=8, mixup=True, mix_scale=2.0
    )
    v1, v2 = torch.rand(6, 3, 8, 8), torch.rand(6, 3, 8, 8)
    torch.manual_seed(5)
    out = method.training_losses({"views": [v1, v2]})
    torch.manual_seed(5)
    beta = torch.tensor(1.0)
    alpha = float(torch.distributions.Beta(beta, beta).sample())
    perm = torch.randperm(6)
    z1, z2 = method.projector(method.encoder(torch.cat([v1, v2]))).chunk(2)
    zm = method.projector(method.encoder(alpha * v1 + (1 - alpha) * v2[perm]))
    want = barlow_twins(z1, z2) + mixed_barlow_regularizer(z1, z2, zm, perm, alpha, 0.0051, 2.0)
    torch.testing.assert_close(out["loss"], want, rtol=1e-4, atol=1e-5)

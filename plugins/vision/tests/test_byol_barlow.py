"""BYOL/DirectPred and (Mixed) Barlow Twins against float64 re-implementations of the papers."""

from __future__ import annotations

import math

import torch

from selfsup.losses import barlow_twins, mixed_barlow_regularizer, negative_cosine
from selfsup_vision.encoders import SmallConvNet
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

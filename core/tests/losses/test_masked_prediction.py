"""masked_token_cross_entropy and latent_regression against explicit sums over masked tokens."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.losses import (
    LatentRegressionLoss,
    MaskedTokenCrossEntropyLoss,
    latent_regression,
    masked_token_cross_entropy,
)

TOL = 1e-10
MASK = torch.tensor([[True, False, True, False], [False, False, True, True]])


def _leaf(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()


def _ref_ce(logits, targets, mask, eps=0.0):
    """mean over masked (b, l) of (1-eps) * -log p_t + eps * mean_v -log p_v."""
    b_size, length, vocab = logits.shape
    losses = []
    for b in range(b_size):
        for t in range(length):
            if not mask[b, t]:
                continue
            log_z = torch.log(sum(torch.exp(logits[b, t, v]) for v in range(vocab)))
            nll = log_z - logits[b, t, int(targets[b, t])]
            smooth = sum(log_z - logits[b, t, v] for v in range(vocab)) / vocab
            losses.append((1 - eps) * nll + eps * smooth)
    return sum(losses) / len(losses)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_masked_ce_matches_reference_and_ignores_unmasked(eps):
    logits = _leaf(2, 4, 5, seed=0)
    targets = torch.tensor([[1, -100, 4, 99], [-7, 3, 0, 2]])  # junk where unmasked
    loss = masked_token_cross_entropy(logits, targets, MASK, label_smoothing=eps)
    ref = _ref_ce(logits, targets, MASK, eps)
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    (g,) = torch.autograd.grad(loss, logits, retain_graph=True)
    (g_ref,) = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(g, g_ref, atol=TOL, rtol=0)
    assert (g[~MASK] == 0).all()  # unmasked positions get no gradient
    with torch.no_grad():
        noisy = logits.clone()
        noisy[~MASK] = 1e4 * torch.randn_like(noisy[~MASK])
    torch.testing.assert_close(
        masked_token_cross_entropy(noisy, targets, MASK, label_smoothing=eps), loss
    )


def test_masked_ce_module_and_int32_targets():
    logits = _leaf(2, 4, 5, seed=1)
    targets = torch.tensor([[1, 0, 4, 0], [0, 3, 0, 2]], dtype=torch.int32)
    mod = MaskedTokenCrossEntropyLoss(label_smoothing=0.2)
    torch.testing.assert_close(
        mod(logits, targets, MASK), _ref_ce(logits, targets, MASK, 0.2), atol=TOL, rtol=0
    )


def test_masked_ce_bad_inputs():
    logits, targets = torch.randn(2, 4, 5), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="mask selects no position"):
        masked_token_cross_entropy(logits, targets, torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"must lie in \[0, 5\).*got values in \[0, 5\]"):
        masked_token_cross_entropy(logits, torch.tensor([[5, 0, 0, 0], [0, 0, 0, 0]]), MASK)
    with pytest.raises(ValueError, match=r"\[-1, 0\]"):
        masked_token_cross_entropy(logits, torch.tensor([[0, 0, -1, 0], [0, 0, 0, 0]]), MASK)
    with pytest.raises(ValueError, match=r"logits must have shape \(B, L, V\)"):
        masked_token_cross_entropy(logits[0], targets, MASK)
    with pytest.raises(ValueError, match=r"targets must have shape \(B, L\)"):
        masked_token_cross_entropy(logits, targets[:, :3], MASK)
    with pytest.raises(ValueError, match="integer class ids"):
        masked_token_cross_entropy(logits, targets.float(), MASK)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        masked_token_cross_entropy(logits, targets, MASK.long())
    with pytest.raises(ValueError, match=r"mask must have shape \(B, L\)"):
        masked_token_cross_entropy(logits, targets, MASK[:, :3])
    with pytest.raises(ValueError, match="logits contains"):
        masked_token_cross_entropy(logits / 0, targets, MASK)
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        masked_token_cross_entropy(logits, targets, MASK, label_smoothing=1.0)


def _rho(e, kind, beta):
    if kind == "mse":
        return e**2
    if kind == "l1":
        return abs(e)
    return 0.5 * e**2 / beta if abs(float(e.detach())) < beta else abs(e) - 0.5 * beta


def _ref_regression(pred, target, kind, beta, mask=None):
    b_size, tokens, dim = pred.shape
    total, count = 0.0, 0
    for b in range(b_size):
        for t in range(tokens):
            if mask is not None and not mask[b, t]:
                continue
            total = total + sum(
                _rho(pred[b, t, d] - target[b, t, d], kind, beta) for d in range(dim)
            )
            count += dim
    return total / count


@pytest.mark.parametrize(
    "kind, beta", [("mse", 1.0), ("smooth_l1", 1.0), ("smooth_l1", 0.3), ("l1", 1.0)]
)
@pytest.mark.parametrize("use_mask", [False, True])
def test_latent_regression_matches_reference(kind, beta, use_mask):
    pred, target = _leaf(2, 4, 3, seed=2), _leaf(2, 4, 3, seed=3, scale=1.5)
    mask = MASK if use_mask else None
    loss = latent_regression(pred, target, kind=kind, beta=beta, mask=mask)
    ref = _ref_regression(pred, target, kind, beta, mask)
    torch.testing.assert_close(loss, ref, atol=TOL, rtol=0)
    got = torch.autograd.grad(loss, (pred, target), retain_graph=True)
    want = torch.autograd.grad(ref, (pred, target))
    for g, w in zip(got, want, strict=True):  # the target is NOT detached
        torch.testing.assert_close(g, w, atol=TOL, rtol=0)
    if use_mask:
        assert (got[0][~MASK] == 0).all()


def test_latent_regression_target_under_no_grad_and_module():
    pred = _leaf(3, 5, seed=4)
    with torch.no_grad():  # an EMA teacher's output
        target = pred.detach() * 0.5 + 1.0
    loss = LatentRegressionLoss("smooth_l1", beta=0.5)(pred, target)
    torch.testing.assert_close(loss, _ref_regression(pred[None], target[None], "smooth_l1", 0.5))
    loss.backward()
    assert pred.grad is not None and math.isfinite(loss.item())


def test_latent_regression_bad_inputs():
    a = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="kind must be one of"):
        latent_regression(a, a, kind="huber")
    with pytest.raises(ValueError, match="beta must be > 0"):
        latent_regression(a, a, kind="smooth_l1", beta=0.0)
    with pytest.raises(ValueError, match="shape mismatch: pred=\\(2, 4, 3\\)"):
        latent_regression(a, a[:, :3])
    with pytest.raises(ValueError, match="at least 2"):
        latent_regression(a[0, 0], a[0, 0])
    with pytest.raises(ValueError, match="target contains"):
        latent_regression(a, a * float("inf"))
    with pytest.raises(ValueError, match=r"mask must have shape pred.shape\[:-1\]"):
        latent_regression(a, a, mask=MASK[:, :2])
    with pytest.raises(ValueError, match="mask selects no position"):
        latent_regression(a, a, mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="kind"):
        LatentRegressionLoss("cosine")


def test_latent_regression_on_an_empty_batch_is_an_error_not_nan():
    empty = torch.zeros(0, 4, 3)
    with pytest.raises(ValueError, match=r"empty batch \(pred shape \(0, 4, 3\)\)"):
        latent_regression(empty, empty)

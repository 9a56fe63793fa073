"""supcon against a loop over the paper's Eq. 2 (float64, values and gradients), its NT-Xent
special case, the streamed path, and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.losses import SupConLoss, nt_xent, supcon

TOL = 1e-10


def _leaf(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


def _ref_supcon(views: list[torch.Tensor], labels: list[int], tau: float) -> torch.Tensor:
    """L_out (Khosla et al., Eq. 2) element by element: for each anchor, minus the mean over
    its positives of log(exp(z_a.z_p/tau) / sum_{b != a} exp(z_a.z_b/tau))."""
    rows = [z[i] / torch.sqrt((z[i] ** 2).sum()) for z in views for i in range(z.shape[0])]
    ys = labels * len(views)
    total = 0.0
    for a, za in enumerate(rows):
        denominator = sum(torch.exp((za * zb).sum() / tau) for b, zb in enumerate(rows) if b != a)
        positives = [p for p in range(len(rows)) if p != a and ys[p] == ys[a]]
        log_probs = [(za * rows[p]).sum() / tau - torch.log(denominator) for p in positives]
        total = total - sum(log_probs) / len(positives)
    return total / len(rows)


@pytest.mark.parametrize("num_views", [2, 3])
@pytest.mark.parametrize("chunk_size", [None, 4])
def test_supcon_equals_the_papers_loop_with_gradients(num_views: int, chunk_size) -> None:
    views = [_leaf(6, 5, seed=v) for v in range(num_views)]
    labels = [0, 1, 0, 2, 1, 0]
    loss = supcon(*views, labels=torch.tensor(labels), temperature=0.3, chunk_size=chunk_size)
    expected = _ref_supcon(views, labels, 0.3)
    assert abs(float(loss.detach()) - float(expected.detach())) < TOL
    got = torch.autograd.grad(loss, views)
    want = torch.autograd.grad(expected, views)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=TOL)


def test_without_labels_two_views_are_nt_xent() -> None:
    z1, z2 = _leaf(7, 4, seed=10), _leaf(7, 4, seed=11)
    a = supcon(z1, z2, temperature=0.5)
    b = nt_xent(z1, z2, temperature=0.5)
    assert abs(float(a.detach()) - float(b.detach())) < TOL
    for g, w in zip(torch.autograd.grad(a, (z1, z2)), torch.autograd.grad(b, (z1, z2))):
        torch.testing.assert_close(g, w, rtol=0, atol=TOL)


def test_same_label_samples_attract_instead_of_repelling() -> None:
    # moving sample 1 towards sample 0 pays, and pays more, once they share a label
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)

    def slope(labels: list[int]) -> float:
        step = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        moved = z.clone()
        moved[1] = z[1] + step * (z[0] - z[1])
        loss = supcon(moved, moved, labels=torch.tensor(labels), temperature=0.2)
        (grad,) = torch.autograd.grad(loss, step)
        return float(grad)

    assert slope([0, 0, 2, 3]) < min(0.0, slope([0, 1, 2, 3]))


def test_module_and_bad_inputs() -> None:
    z = torch.randn(4, 3)
    assert math.isfinite(float(SupConLoss(0.2)(z, z.flip(0), labels=torch.tensor([0, 1, 0, 1]))))
    with pytest.raises(ValueError, match="at least two views"):
        supcon(z)
    with pytest.raises(ValueError, match="one"):
        supcon(z, torch.randn(5, 3))
    with pytest.raises(ValueError, match="labels must be an int64"):
        supcon(z, z, labels=torch.tensor([0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="one sample"):
        supcon(z[:1], z[:1])

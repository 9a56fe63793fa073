"""Tests for selfsup.methods.alignment (CLIP-style symmetric InfoNCE)."""

from __future__ import annotations

import math

import pytest
import torch
from lightning.pytorch import LightningDataModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from selfsup.experiment import MalformedBatchError, SSLModule, Task
from selfsup.methods import CrossModalAlignment
from selfsup.testing.boring import quiet_trainer


def _method(**kwargs) -> CrossModalAlignment:
    torch.manual_seed(0)
    return CrossModalAlignment(nn.Linear(5, 6), nn.Linear(3, 4), dim_a=6, dim_b=4, **kwargs)


def _reference(method: CrossModalAlignment, a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor):
    """Float64 CLIP loss written out with loops over rows."""
    p = {k: v.double() for k, v in method.state_dict().items()}
    u = (a.double() @ p["encoder_a.weight"].T + p["encoder_a.bias"]) @ p["project_a.weight"].T
    v = (b.double() @ p["encoder_b.weight"].T + p["encoder_b.bias"]) @ p["project_b.weight"].T
    u = u / u.norm(dim=1, keepdim=True)
    v = v / v.norm(dim=1, keepdim=True)
    inv_tau = torch.exp(scale)
    n = u.shape[0]
    total_ab = total_ba = 0.0
    for i in range(n):
        logits_ab = [inv_tau * (u[i] @ v[j]) for j in range(n)]
        logits_ba = [inv_tau * (v[i] @ u[j]) for j in range(n)]
        total_ab = total_ab - (logits_ab[i] - torch.logsumexp(torch.stack(logits_ab), 0))
        total_ba = total_ba - (logits_ba[i] - torch.logsumexp(torch.stack(logits_ba), 0))
    return 0.5 * (total_ab / n + total_ba / n)


def test_loss_and_temperature_gradient_match_float64_reference() -> None:
    method = _method(temperature=0.1).double()
    a, b = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    out = method.training_losses({"a": a, "b": b})
    scale = method.logit_scale.detach().clone().requires_grad_(True)
    ref = _reference(method, a, b, scale)
    torch.testing.assert_close(out["loss"], ref.detach(), rtol=1e-9, atol=1e-10)
    (g_scale,) = torch.autograd.grad(ref, scale)
    (g_got,) = torch.autograd.grad(out["loss"], method.logit_scale)
    torch.testing.assert_close(g_got, g_scale, rtol=1e-8, atol=1e-10)
    assert out["temperature"].item() == pytest.approx(0.1)


def test_logit_scale_is_clamped_and_can_be_fixed() -> None:
    method = _method(max_logit_scale=20.0)
    with torch.no_grad():
        method.logit_scale.fill_(10.0)
    assert method.temperature.item() == pytest.approx(1 / 20.0)
    fixed = _method(learnable_temperature=False)
    assert "logit_scale" not in dict(fixed.named_parameters())
    assert fixed.temperature.item() == pytest.approx(0.07)


def test_embed_and_batch_forms() -> None:
    method = _method()
    a, b = torch.randn(4, 5), torch.randn(4, 3)
    u = method.embed({"a": a})
    v = method.embed({"b": b})
    assert u.shape == v.shape == (4, 128)
    torch.testing.assert_close(u.norm(dim=1), torch.ones(4))
    pair = method.embed_pair((a, b))
    torch.testing.assert_close(pair[0], u)
    torch.testing.assert_close(method.training_losses((a, b))["loss"], method((a, b))["loss"])


def test_bad_batches_and_arguments() -> None:
    method = _method()
    with pytest.raises(MalformedBatchError, match="missing"):
        method.training_losses({"a": torch.randn(2, 5)})
    with pytest.raises(MalformedBatchError, match="pairs must align"):
        method.training_losses({"a": torch.randn(2, 5), "b": torch.randn(3, 3)})
    with pytest.raises(MalformedBatchError, match="dim_a=7"):
        CrossModalAlignment(nn.Linear(5, 6), nn.Linear(3, 4), dim_a=7, dim_b=4).training_losses(
            {"a": torch.randn(2, 5), "b": torch.randn(2, 3)}
        )
    with pytest.raises(ValueError, match="max_logit_scale"):
        _method(temperature=0.001)
    with pytest.raises(ValueError, match="two different sides"):
        _method(keys=("x", "x"))


class _Paired(LightningDataModule):
    """Side b is a fixed random linear map of side a (plus noise): alignable."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(256, 5, generator=gen)
        b = a @ torch.randn(5, 3, generator=gen) + 0.05 * torch.randn(256, 3, generator=gen)
        self.data = TensorDataset(a, b)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.data, batch_size=64, shuffle=True, drop_last=True)


def test_alignment_learns_to_retrieve_pairs() -> None:
    torch.manual_seed(0)
    method = CrossModalAlignment(
        nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 16)),
        nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 16)),
        dim_a=16,
        dim_b=16,
        embed_dim=16,
    )
    data = _Paired()
    a, b = data.data.tensors
    before = method.training_losses((a, b))["retrieval_top1"].item()
    optimizer = torch.optim.Adam(method.parameters(), lr=3e-3)
    for _ in range(100):
        index = torch.randint(0, 256, (64,))
        loss = method.training_losses((a[index], b[index]))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = method.training_losses((a, b))
    assert math.isfinite(after["loss"].item())
    assert after["retrieval_top1"].item() > max(0.5, 3 * before)


def test_alignment_trains_through_ssl_module() -> None:
    method = _method()
    module = SSLModule(Task("pairs", method, _PairedFive()))
    trainer = quiet_trainer(max_steps=2)
    trainer.fit(module)
    assert "train/pairs/retrieval_top1" in trainer.callback_metrics


class _PairedFive(LightningDataModule):
    def train_dataloader(self) -> DataLoader:
        data = TensorDataset(torch.randn(32, 5), torch.randn(32, 3))
        return DataLoader(data, batch_size=16)

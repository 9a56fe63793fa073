"""Tests for selfsup.optim.layer_decay against hand-computed float64 learning rates and steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from selfsup.optim import layer_decay_param_groups


class TinyViT(nn.Module):
    """Embedding, ``depth`` blocks (linear + norm), head: ids 0, 1..depth, depth + 1."""

    def __init__(self, depth: int = 3, dim: int = 4) -> None:
        super().__init__()
        self.embed = nn.Linear(2, dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim)) for _ in range(depth)
        )
        self.head = nn.Linear(dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


def vit_layer_id(name: str, depth: int = 3) -> int:
    if name.startswith("embed."):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return depth + 1


def test_learning_rates_and_weight_decay_per_parameter() -> None:
    model = TinyViT().double()
    lr, decay, wd = 1e-3, 0.65, 0.05
    groups = layer_decay_param_groups(model.named_parameters(), vit_layer_id, 4, lr, decay, wd)
    by_param = {id(p): g for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        g = by_param[id(p)]
        layer = 0 if name.startswith("embed") else 4
        if name.startswith("blocks."):
            layer = int(name.split(".")[1]) + 1
        assert g["layer_id"] == layer
        assert math.isclose(g["lr"], lr * 0.65 ** (4 - layer), rel_tol=1e-15)
        assert math.isclose(g["lr_scale"], 0.65 ** (4 - layer), rel_tol=1e-15)
        assert g["weight_decay"] == (0.0 if p.ndim <= 1 else wd), name
    # every trainable parameter exactly once, groups ordered by layer
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert [g["layer_id"] for g in groups] == sorted(g["layer_id"] for g in groups)
    assert math.isclose(groups[-1]["lr"], lr) and math.isclose(groups[0]["lr"], lr * 0.65**4)


def test_one_adamw_step_matches_a_float64_hand_update() -> None:
    """AdamW on the groups = per-parameter Adam with lr_p, wd_p (first step: m / sqrt(v) = sign
    of the gradient, computed here by hand from the gradients)."""
    torch.manual_seed(0)
    model = TinyViT().double()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    lr, decay, wd, eps = 1e-2, 0.5, 0.1, 1e-8
    groups = layer_decay_param_groups(model.named_parameters(), vit_layer_id, 4, lr, decay, wd)
    opt = torch.optim.AdamW(groups, lr=123.0, betas=(0.9, 0.999), eps=eps, weight_decay=7.0)
    x = torch.randn(5, 2, dtype=torch.float64)
    model(x).pow(2).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    for name, p in model.named_parameters():
        layer = vit_layer_id(name)
        lr_p = lr * decay ** (4 - layer)
        wd_p = 0.0 if p.ndim <= 1 else wd
        g = grads[name]
        m_hat = (1 - 0.9) * g / (1 - 0.9)
        v_hat = (1 - 0.999) * g * g / (1 - 0.999)
        expected = before[name] * (1 - lr_p * wd_p) - lr_p * m_hat / (v_hat.sqrt() + eps)
        torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-14)


def test_schedulers_keep_the_per_layer_ratios() -> None:
    model = TinyViT()
    groups = layer_decay_param_groups(model.named_parameters(), vit_layer_id, 4, 1.0, 0.75)
    opt = torch.optim.SGD(groups, lr=1.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        opt.step()
        sched.step()
    factor = 0.5 * (1 + math.cos(math.pi * 3 / 10))
    for g in opt.param_groups:
        assert math.isclose(g["lr"], g["lr_scale"] * factor, rel_tol=1e-12)


def test_frozen_parameters_custom_rule_and_no_decay() -> None:
    model = TinyViT()
    model.embed.requires_grad_(False)
    groups = layer_decay_param_groups(
        model.named_parameters(),
        vit_layer_id,
        4,
        0.1,
        1.0,
        0.01,
        no_weight_decay=lambda name, p: name.startswith("head."),
    )
    params = [p for g in groups for p in g["params"]]
    assert all(p is not model.embed.weight for p in params)
    assert all(math.isclose(g["lr"], 0.1) for g in groups)  # decay 1: plain groups
    head = {id(model.head.weight), id(model.head.bias)}
    for g in groups:
        expected = 0.0 if any(id(p) in head for p in g["params"]) else 0.01
        assert g["weight_decay"] == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"decay": 0.0}, "decay"),
        ({"decay": 1.5}, "decay"),
        ({"lr": 0.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"num_layers": -1}, "num_layers"),
        ({"num_layers": 2}, "'blocks.2.0.weight'"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    args = {"lr": 1e-3, "decay": 0.7, "weight_decay": 0.0, "num_layers": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        layer_decay_param_groups(TinyViT().named_parameters(), vit_layer_id, **args)


def test_nothing_trainable_raises() -> None:
    model = TinyViT().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        layer_decay_param_groups(model.named_parameters(), vit_layer_id, 4, 1e-3, 0.7)


def test_without_lr_and_weight_decay_only_scales_are_given() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    groups = layer_decay_param_groups(
        model.named_parameters(), lambda n: int(n[0]), 2, None, 0.5, None
    )
    assert all("lr" not in g for g in groups)
    decayed = [g for g in groups if "weight_decay" not in g]
    exempt = [g for g in groups if "weight_decay" in g]
    assert all(p.ndim == 2 for g in decayed for p in g["params"])
    assert all(g["weight_decay"] == 0.0 and g["params"][0].ndim == 1 for g in exempt)
    assert sorted({g["lr_scale"] for g in groups}) == [0.25, 0.5]

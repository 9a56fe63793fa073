"""MGDA and PCGrad against their definitions (float64), and SSLModule applying them to the
parameters two tasks share."""

from __future__ import annotations

import itertools

import pytest
import torch
from lightning.pytorch import Callback, LightningDataModule
from torch import nn
from torch.utils.data import DataLoader

from selfsup.experiment import Method, SSLModule, Task
from selfsup.experiment.gradient_balancing import (
    mgda_weights,
    pcgrad_weights,
    shared_parameters,
)
from selfsup.testing.boring import BoringDataModule, BoringMethod, quiet_trainer


def _vectors(t: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(t, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_mgda_two_tasks_is_the_closed_form() -> None:
    g = _vectors(2, 5, 0)
    a = float(((g[1] - g[0]) @ g[1]) / ((g[0] - g[1]) @ (g[0] - g[1])))
    a = min(1.0, max(0.0, a))
    torch.testing.assert_close(mgda_weights(g @ g.T), torch.tensor([a, 1 - a], dtype=torch.float64))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mgda_finds_the_min_norm_point_of_the_hull(seed: int) -> None:
    g = _vectors(3, 4, seed)
    w = mgda_weights(g @ g.T)
    assert float(w.min()) >= 0 and abs(float(w.sum()) - 1) < 1e-12
    best = min(
        float(((a * g[0] + b * g[1] + (1 - a - b) * g[2]) ** 2).sum())
        for a, b in itertools.product([i / 200 for i in range(201)], repeat=2)
        if a + b <= 1
    )
    assert float(((w @ g) ** 2).sum()) <= best + 1e-9


def _ref_pcgrad(g: torch.Tensor, order: list[list[int]]) -> torch.Tensor:
    """PCGrad as written (Yu et al., Alg. 1): project each g_i off every original g_j it
    conflicts with, in order; sum the projected gradients."""
    out = []
    for i in range(len(g)):
        gi = g[i].clone()
        for j in order[i]:
            dot = gi @ g[j]
            if dot < 0:
                gi = gi - dot / (g[j] @ g[j]) * g[j]
        out.append(gi)
    return torch.stack(out).sum(0)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_pcgrad_weights_reproduce_the_projected_sum(seed: int) -> None:
    g = _vectors(3, 6, seed)
    order = [[2, 1], [0, 2], [1, 0]]
    torch.testing.assert_close(pcgrad_weights(g @ g.T, order) @ g, _ref_pcgrad(g, order))


def test_on_a_conflicting_toy_the_balanced_direction_descends_for_every_task() -> None:
    # g_1 is large and points against g_0: the plain sum raises task 0's loss to first order
    g = torch.tensor([[1.0, 0.2], [-3.0, 1.0]], dtype=torch.float64)
    plain = g.sum(0)
    assert float(plain @ g[0]) < 0
    for weights in (mgda_weights(g @ g.T), pcgrad_weights(g @ g.T)):
        combined = weights @ g
        assert float(combined @ g[0]) >= -1e-12 and float(combined @ g[1]) >= -1e-12


def test_shared_parameters_are_those_of_two_or_more_methods() -> None:
    a, b = BoringMethod(), BoringMethod()
    b.encoder = a.encoder
    shared = shared_parameters([a, b])
    assert {id(p) for p in shared} == {id(p) for p in a.encoder.parameters()}


class _Grads(Callback):
    def __init__(self, params) -> None:
        self.params, self.grads = params, None

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.grads = [p.grad.detach().clone() for p in self.params]


class _Regression(Method):
    """A deterministic task: a trunk and a head regressing a target of its own."""

    def __init__(self, target: float) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 3)
        self.head = nn.Linear(3, 1)
        self.target = target

    def training_losses(self, batch):
        return {"loss": ((self.head(torch.tanh(self.encoder(batch))) - self.target) ** 2).mean()}

    def embed(self, batch):
        return self.encoder(batch)


class _Fixed(LightningDataModule):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.x = torch.randn(8, 4, generator=torch.Generator().manual_seed(seed))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.x, batch_size=8)


@pytest.mark.parametrize("balancing", ["mgda", "pcgrad"])
def test_ssl_module_balances_the_shared_gradient(balancing: str) -> None:
    torch.manual_seed(0)
    methods = [_Regression(3.0), _Regression(-2.0)]  # opposite targets: conflicting trunk pulls
    methods[1].encoder = methods[0].encoder
    methods[1].head.load_state_dict(methods[0].head.state_dict())  # equal heads, own copies
    tasks = [Task(n, m, _Fixed(0)) for n, m in zip("ab", methods)]
    shared = list(methods[0].encoder.parameters())
    heads = [next(m.head.parameters()) for m in methods]
    per_task = [
        torch.autograd.grad(m.training_losses(t.data.x)["loss"], shared + [h])
        for m, t, h in zip(methods, tasks, heads)
    ]
    flat = torch.stack([torch.cat([g.reshape(-1) for g in grads[:-1]]) for grads in per_task])
    gram = flat.double() @ flat.double().T
    spy = _Grads(shared + heads)
    trainer = quiet_trainer(max_steps=1, max_epochs=-1, callbacks=[spy])
    trainer.fit(SSLModule(tasks, balancing=balancing))
    got_shared = torch.cat([g.reshape(-1) for g in spy.grads[:2]])
    if balancing == "mgda":  # the weights scale each task's whole loss (the reference's way)
        w = mgda_weights(gram).float()
        expected_heads = [w[i] * per_task[i][-1] for i in range(2)]
    else:  # with two tasks both projection orders give the same sum; heads keep their own
        w = pcgrad_weights(gram).float()
        expected_heads = [per_task[i][-1] for i in range(2)]
    torch.testing.assert_close(got_shared, w @ flat, rtol=1e-5, atol=1e-6)
    for got, expected in zip(spy.grads[2:], expected_heads):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert float(flat[0] @ flat[1]) < 0  # the toy does conflict
    assert "train/a/balance_weight" in trainer.callback_metrics


@pytest.mark.parametrize("balancing", ["mgda", "pcgrad"])
def test_tasks_sharing_nothing_train_as_with_the_weighted_sum(balancing: str) -> None:
    """The quickstart's case: separate encoders, so balancing leaves every gradient alone."""

    def run(rule: str) -> list[torch.Tensor]:
        torch.manual_seed(0)
        methods = [_Regression(3.0), _Regression(-2.0)]
        tasks = [Task(n, m, _Fixed(i)) for i, (n, m) in enumerate(zip("ab", methods))]
        quiet_trainer(max_steps=3, max_epochs=-1).fit(SSLModule(tasks, balancing=rule))
        return [p.detach().clone() for m in methods for p in m.parameters()]

    for got, want in zip(run(balancing), run("sum"), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_unknown_balancing_is_named() -> None:
    with pytest.raises(ValueError, match="balancing must be one of"):
        SSLModule(Task("t", BoringMethod(), BoringDataModule()), balancing="uncertainty")

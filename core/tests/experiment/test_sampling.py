"""Tests for selfsup.experiment.sampling (one task per step)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from selfsup.experiment import SSLModule, Task, TaskSampledLoader, task_probabilities
from selfsup.testing.boring import BoringDataModule, BoringMethod, quiet_trainer


def _loader(n: int, batch_size: int = 2, value: float = 0.0) -> DataLoader:
    return DataLoader(TensorDataset(torch.full((n, 1), value)), batch_size=batch_size)


def test_probabilities_match_the_formula() -> None:
    sizes = [1000.0, 100.0, 10.0]
    for policy, tau in (("proportional", 1.0), ("temperature", 2.0), ("temperature", 0.5)):
        exponent = 1.0 if policy == "proportional" else 1.0 / tau
        weights = [s**exponent for s in sizes]
        expected = [w / sum(weights) for w in weights]
        assert task_probabilities(sizes, policy, tau) == pytest.approx(expected, rel=1e-12)
    assert task_probabilities(sizes, "round_robin") == pytest.approx([1 / 3] * 3)
    assert task_probabilities(sizes, "temperature", 1e6) == pytest.approx([1 / 3] * 3, rel=1e-4)
    # tiny temperatures stay finite (log-space): the largest task takes everything
    assert task_probabilities([1e9, 1.0], "temperature", 1e-3) == pytest.approx([1.0, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizes": [1.0], "policy": "all"}, "policy must be one of"),
        ({"sizes": [0.0, 1.0], "policy": "proportional"}, "positive and finite"),
        ({"sizes": [1.0], "policy": "temperature", "temperature": 0.0}, "temperature must be"),
    ],
)
def test_bad_probability_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        task_probabilities(**kwargs)


def test_each_step_holds_exactly_one_task_and_loaders_cycle() -> None:
    loaders = {"big": _loader(40, value=1.0), "small": _loader(4, value=2.0)}
    sampled = TaskSampledLoader(loaders, "proportional", seed=3)
    assert sampled.steps_per_epoch == 20 + 2
    seen: Counter[str] = Counter()
    for batch, _, _ in sampled:
        present = [name for name, value in batch.items() if value is not None]
        assert len(present) == 1
        (x,) = batch[present[0]]
        assert torch.all(x == (1.0 if present[0] == "big" else 2.0))
        seen[present[0]] += 1
    assert sum(seen.values()) == 22
    order = sampled.task_order(0)
    assert seen == Counter(sampled.names[i] for i in order)


def test_frequencies_follow_the_probabilities() -> None:
    loaders = {"a": _loader(300), "b": _loader(30), "c": _loader(3)}
    sampled = TaskSampledLoader(loaders, "temperature", temperature=3.0, steps_per_epoch=30000)
    counts = Counter(sampled.task_order(0))
    expected = task_probabilities([300, 30, 3], "temperature", 3.0)
    for index, p in enumerate(expected):
        std = math.sqrt(p * (1 - p) / 30000)
        assert abs(counts[index] / 30000 - p) < 5 * std


def test_sequence_depends_only_on_seed_and_epoch() -> None:
    loaders = {"a": _loader(20), "b": _loader(20)}
    one = TaskSampledLoader(loaders, "proportional", seed=7)
    two = TaskSampledLoader(loaders, "proportional", seed=7)
    assert one.task_order(0) == two.task_order(0)
    assert one.task_order(0) != one.task_order(1)
    assert TaskSampledLoader(loaders, "round_robin", steps_per_epoch=5).task_order(4) == [
        0,
        1,
        0,
        1,
        0,
    ]


def test_loader_argument_errors() -> None:
    with pytest.raises(ValueError, match="at least one task loader"):
        TaskSampledLoader({}, "round_robin")
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive int"):
        TaskSampledLoader({"a": _loader(4)}, "round_robin", steps_per_epoch=0)
    with pytest.raises(ValueError, match="cannot size its loader"):
        TaskSampledLoader({"a": iter([1, 2])}, "proportional", steps_per_epoch=2)


class _CountingMethod(BoringMethod):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def training_losses(self, batch) -> dict[str, Tensor]:
        self.calls += 1
        return super().training_losses(batch)


def test_ssl_module_trains_one_task_per_step() -> None:
    a = Task("a", _CountingMethod(), BoringDataModule(num_samples=96, seed=0))
    b = Task("b", _CountingMethod(), BoringDataModule(num_samples=32, seed=1))
    module = SSLModule([a, b], sampling="proportional", sampling_seed=5)
    trainer = quiet_trainer(max_epochs=2, max_steps=-1)
    trainer.fit(module)
    steps_per_epoch = 96 // 16 + 32 // 16
    assert trainer.global_step == 2 * steps_per_epoch
    assert a.method.calls + b.method.calls == 2 * steps_per_epoch
    loader = module._sampled_loader
    assert loader is not None
    expected = Counter(i for e in range(2) for i in loader.task_order(e))
    assert (a.method.calls, b.method.calls) == (expected[0], expected[1])
    assert "train/a/loss" in trainer.callback_metrics and "train/b/loss" in trainer.callback_metrics


def test_ssl_module_refuses_unknown_sampling() -> None:
    task = Task("a", BoringMethod(), BoringDataModule())
    with pytest.raises(ValueError, match="sampling must be one of"):
        SSLModule(task, sampling="uniform")
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive int"):
        SSLModule(task, sampling="round_robin", steps_per_epoch=0)


def test_limit_batches_caps_the_sampled_epoch() -> None:
    loaders = {"a": _loader(40), "b": _loader(20)}  # 20 + 10 batches
    assert TaskSampledLoader(loaders, "round_robin", limit_batches=7).steps_per_epoch == 7
    assert TaskSampledLoader(loaders, "round_robin", limit_batches=0.5).steps_per_epoch == 15
    assert len(list(TaskSampledLoader(loaders, "proportional", limit_batches=4))) == 4

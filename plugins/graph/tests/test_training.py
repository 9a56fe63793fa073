"""End to end: Lightning training of GraphMAE and the node probe (configs: test_configs.py)."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Trainer

from selfsup.experiment import SSLModule, Task
from selfsup.metrics import ProbeMonitor
from selfsup_graph.data import (
    GraphDataModule,
    NodeDataModule,
    synthetic_graph_dataset,
    synthetic_node_graph,
)
from selfsup_graph.evaluation import NodeProbe, mean_std, node_linear_probe
from selfsup_graph.methods import GraphMAE, GraphMAE2, GraphMAEGraphLevel


def _trainer(epochs: int, callbacks: list) -> Trainer:
    return Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )


def test_node_probe_selects_the_best_validation_epoch() -> None:
    torch.manual_seed(0)
    y = torch.arange(90) % 3
    z = torch.nn.functional.one_hot(y, 3).float() + 0.3 * torch.randn(90, 3)
    perm = torch.randperm(90)
    masks = [torch.zeros(90, dtype=torch.bool) for _ in range(3)]
    for i, m in enumerate(masks):
        m[perm[i * 30 : (i + 1) * 30]] = True
    r = node_linear_probe(z, y, *masks, epochs=100, seed=0)
    assert r.test_acc > 0.9 and 0 <= r.best_epoch < 100
    again = node_linear_probe(z, y, *masks, epochs=100, seed=0)
    assert again == r
    with pytest.raises(ValueError, match="val_mask"):
        node_linear_probe(z, y, masks[0], torch.zeros(90, dtype=torch.bool), masks[2])
    assert mean_std([1.0, 3.0]) == (2.0, 1.0)


def test_node_probe_without_test_mask_never_reads_test_labels() -> None:
    torch.manual_seed(0)
    y = torch.arange(90) % 3
    z = torch.nn.functional.one_hot(y, 3).float() + 0.8 * torch.randn(90, 3)
    perm = torch.randperm(90)
    masks = [torch.zeros(90, dtype=torch.bool) for _ in range(3)]
    for i, m in enumerate(masks):
        m[perm[i::3]] = True
    with_test = node_linear_probe(z, y, *masks, epochs=60, seed=0)
    scrambled = y.clone()
    scrambled[masks[2]] = (scrambled[masks[2]] + 1) % 3  # wrong test labels
    blind = node_linear_probe(z, scrambled, masks[0], masks[1], None, epochs=60, seed=0)
    assert blind.test_acc is None and blind.final_test_acc is None
    # the validation-side choice is the same whatever the test labels say
    assert (blind.val_acc, blind.best_epoch) == (with_test.val_acc, with_test.best_epoch)
    assert blind.final_val_acc == with_test.final_val_acc
    one = node_linear_probe(z, y, *masks, epochs=1, seed=0)
    assert one.final_val_acc == one.val_acc and one.best_epoch == 0  # the last epoch is the only


def test_graphmae2_trains_with_lightning_and_is_probed() -> None:
    torch.manual_seed(0)
    graph = synthetic_node_graph(num_nodes=150, num_features=30, feature_noise=0.8)
    method = GraphMAE2(
        in_channels=30, hidden_channels=16, num_heads=2, latent_weight=0.1, momentum=0.9
    )
    probe = NodeProbe(lr=0.5, epochs=100, seed=0)
    monitor = ProbeMonitor(probes=[probe], every_n_epochs=5)
    module = SSLModule(
        [Task("toy", method, NodeDataModule(graph))],
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
    )
    first = [t.clone() for t in method.target_encoder.teacher_parameters()]
    trainer = _trainer(10, [monitor])
    trainer.fit(module)
    assert probe.results["toy"].test_acc > 0.6  # the synthetic classes are well separated
    assert float(trainer.callback_metrics["toy/probe_test_acc"]) == probe.results["toy"].test_acc
    assert monitor.results["toy"]["probe_val_acc"] == probe.results["toy"].val_acc
    moved = any(
        not torch.equal(a, b)
        for a, b in zip(first, method.target_encoder.teacher_parameters(), strict=True)
    )
    assert moved  # SSLModule updated the EMA target after each optimiser step


def test_graph_level_training_with_core_probe_monitor() -> None:
    torch.manual_seed(0)
    data = GraphDataModule(synthetic_graph_dataset(num_graphs=24, num_features=6), batch_size=8)
    method = GraphMAEGraphLevel(in_channels=6, hidden_channels=8, num_layers=2)
    monitor = ProbeMonitor(every_n_epochs=2, probe="linear")
    module = SSLModule([Task("graphs", method, data)])
    _trainer(2, [monitor]).fit(module)
    assert 0.0 <= monitor.results["graphs"]["linear_acc"] <= 1.0


def test_mini_batch_training_on_sampled_subgraphs() -> None:
    torch.manual_seed(0)
    graph = synthetic_node_graph(num_nodes=60, num_features=12)
    method = GraphMAE(in_channels=12, hidden_channels=8, num_heads=2)
    data = NodeDataModule(graph, batch_size=16, num_neighbors=[4, 4])
    module = SSLModule([Task("toy", method, data)])
    trainer = _trainer(1, [])
    trainer.fit(module)
    assert trainer.global_step == 4  # 60 seed nodes / 16 per batch

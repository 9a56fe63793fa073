from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from selfsup.metrics import (
    ClassificationProbe,
    Probe,
    ProbeContext,
    ProbeMonitor,
    RankMeMonitor,
    knn_accuracy,
    linear_probe,
    rankme,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not have many workers.*",
    "ignore:.*number of training batches.*",
    "ignore:GPU available but not used.*",
)


def labelled_blobs(seed: int, n: int) -> tuple[Tensor, Tensor]:
    centers = torch.randn(3, 8, generator=torch.Generator().manual_seed(123)) * 3
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    return centers[y] + 0.5 * torch.randn(n, 8, generator=g), y


class ToyData(LightningDataModule):
    """A task data module with a labelled probe split."""

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        x_train, y_train = labelled_blobs(1, 60)
        x_test, y_test = labelled_blobs(2, 30)
        return (
            DataLoader(TensorDataset(x_train, y_train), batch_size=16),
            DataLoader(TensorDataset(x_test, y_test), batch_size=16),
        )


class ToyModule(LightningModule):
    """Implements exactly the three methods the monitors rely on."""

    def __init__(self, lr: float = 0.0, validation: bool = False, data: Any = None) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 6)
        )
        self.lr = lr
        self.validation = validation
        self.data = {"toy": data if data is not None else ToyData()}
        self.embedded: list[Tensor] = []
        self.modes: list[tuple[str, bool, bool]] = []
        self.probe_calls = 0
        self.probe_stages: list[tuple[bool, bool]] = []

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        self.modes.append(("train", self.encoder[1].training, torch.is_grad_enabled()))
        return self.encoder(batch[0]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(labelled_blobs(0, 256)[0]), batch_size=32)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        pass

    def val_dataloader(self) -> DataLoader | list:
        if not self.validation:
            return []
        return DataLoader(TensorDataset(torch.randn(8, 8)), batch_size=8)

    # --- the monitor contract -------------------------------------------------
    def embed_batch(self, batch: Any) -> dict[str, Tensor]:
        self.modes.append(("embed", self.encoder[1].training, torch.is_grad_enabled()))
        z = self.encoder(batch[0])
        self.embedded.append(z.detach().clone())
        return {"toy": z}

    def embed_inputs(self, name: str, inputs: Tensor) -> Tensor:
        assert name == "toy"
        self.probe_calls += 1
        self.probe_stages.append((self.trainer.validating, torch.is_grad_enabled()))
        return self.encoder(inputs)

    def task_datamodules(self) -> dict[str, LightningDataModule]:
        return self.data


def fit(module: LightningModule, callback: Any, **kwargs: Any) -> Trainer:
    options = dict(
        max_epochs=1,
        limit_train_batches=2,
        enable_checkpointing=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        num_sanity_val_steps=0,
    )
    options.update(kwargs)
    trainer = Trainer(callbacks=[callback], **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    return trainer


def test_rankme_monitor_logs_rankme_of_collected_embeddings() -> None:
    module = ToyModule(lr=0.0)  # frozen weights: the logged value is reproducible
    trainer = fit(module, RankMeMonitor(every_n_steps=2, max_samples=1000))
    assert "toy/rankme" in trainer.callback_metrics
    expected = float(rankme(torch.cat(module.embedded)))
    assert len(module.embedded) == 2
    assert float(trainer.callback_metrics["toy/rankme"]) == pytest.approx(expected, rel=1e-6)
    assert 1.0 <= expected <= 6.0
    # embeddings are taken in eval mode without gradients; training mode is restored
    assert ("embed", False, False) in module.modes
    assert all(train_mode for kind, train_mode, _ in module.modes if kind == "train")


def test_rankme_monitor_only_embeds_batches_needed_before_a_log_step() -> None:
    module = ToyModule(lr=0.01)
    trainer = fit(
        module, RankMeMonitor(every_n_steps=4, max_samples=32, key="rk"), limit_train_batches=8
    )
    # first batch (size unknown yet) + the one batch before each of steps 4 and 8
    assert len(module.embedded) == 3
    assert "toy/rk" in trainer.callback_metrics


def test_probe_monitor_without_validation_loop(capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)  # the random (lr=0) encoder must not depend on earlier tests' RNG use
    module = ToyModule(lr=0.0)
    monitor = ProbeMonitor(k=5, probe="both", linear_kwargs={"epochs": 50})
    trainer = fit(module, monitor)
    metrics = trainer.callback_metrics
    assert {"toy/knn_acc", "toy/linear_acc"} <= set(metrics)

    module.eval()
    with torch.no_grad():
        (x_train, y_train), (x_test, y_test) = labelled_blobs(1, 60), labelled_blobs(2, 30)
        z_train, z_test = module.encoder(x_train), module.encoder(x_test)
    assert float(metrics["toy/knn_acc"]) == pytest.approx(
        knn_accuracy(z_train, y_train, z_test, y_test, k=5)
    )
    linear = linear_probe(z_train, y_train, z_test, y_test, epochs=50).accuracy
    assert float(metrics["toy/linear_acc"]) == pytest.approx(linear)
    assert float(metrics["toy/knn_acc"]) > 0.9  # well-separated blobs
    assert monitor.results["toy"]["knn_acc"] == pytest.approx(float(metrics["toy/knn_acc"]))
    assert module.probe_calls == 6  # 4 + 2 batches of 16, probed once
    out = capsys.readouterr().out
    assert "[ProbeMonitor]" in out and "toy: knn_acc=" in out and "linear_acc=" in out


def test_probe_monitor_runs_at_validation_end() -> None:
    module = ToyModule(lr=0.01, validation=True)
    monitor = ProbeMonitor(every_n_epochs=2, k=5, probe="both", linear_kwargs={"epochs": 20})
    trainer = fit(module, monitor, max_epochs=2, limit_val_batches=1)
    assert {"toy/knn_acc", "toy/linear_acc"} <= set(trainer.callback_metrics)
    assert module.probe_calls == 6  # only at the end of epoch 2, and not again at fit end
    assert set(module.probe_stages) == {(True, False)}  # from the validation loop, no grad


def test_probe_monitor_probes_final_weights_at_fit_end() -> None:
    module = ToyModule(lr=0.01)
    trainer = fit(module, ProbeMonitor(every_n_epochs=5, k=3))
    assert module.probe_calls == 6
    assert float(trainer.callback_metrics["toy/knn_acc"]) > 0.9


def test_probe_monitor_skips_tasks_without_probe_loaders() -> None:
    module = ToyModule(data=LightningDataModule())
    monitor = ProbeMonitor()
    trainer = fit(module, monitor)
    assert "toy/knn_acc" not in trainer.callback_metrics
    assert monitor.results == {}


class Plain(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self.layer(batch[0]).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(64, 8)), batch_size=32)


def test_missing_contract_methods_raise() -> None:
    with pytest.raises(TypeError, match="embed_batch"):
        fit(Plain(), RankMeMonitor(every_n_steps=1))
    with pytest.raises(TypeError, match="task_datamodules, embed_inputs"):
        fit(Plain(), ProbeMonitor())


def test_bad_embeddings_and_arguments_raise() -> None:
    class Tokens(ToyModule):
        def embed_batch(self, batch: Any) -> dict[str, Tensor]:
            return {"toy": torch.randn(4, 3, 2)}

    with pytest.raises(ValueError, match=r"\(B, D\)"):
        fit(Tokens(), RankMeMonitor(every_n_steps=1))
    with pytest.raises(ValueError, match="probe"):
        ProbeMonitor(probe="svm")
    with pytest.raises(ValueError, match="every_n_steps"):
        RankMeMonitor(every_n_steps=0)
    with pytest.raises(ValueError, match="max_samples"):
        RankMeMonitor(max_samples=1)


class _Spy(Probe):
    """Records the mode it ran in; scores the mean embedding norm of the probe test loader."""

    def __init__(self, applies: bool = True) -> None:
        self.applies, self.seen = applies, []

    def __call__(self, ctx: ProbeContext) -> dict[str, float] | None:
        if not self.applies:
            return None
        x, _ = next(iter(ctx.data.probe_dataloaders()[1]))
        z = ctx.embed(x)
        self.seen.append((ctx.task, torch.is_grad_enabled(), z.requires_grad))
        return {"spy_norm": float(z.norm(dim=1).mean())}


def test_probes_share_one_monitor_and_one_metric_scheme() -> None:
    torch.manual_seed(0)
    module = ToyModule(lr=0.0)
    spy, idle = _Spy(), _Spy(applies=False)
    monitor = ProbeMonitor(probes=[ClassificationProbe("knn", k=5), spy, idle])
    trainer = fit(module, monitor)
    assert set(monitor.results["toy"]) == {"knn_acc", "spy_norm"}  # idle returned None
    assert spy.seen == [("toy", False, False)]  # frozen: no grad
    assert module.encoder[1].training  # BatchNorm back in train mode after the probe
    module.eval()
    with torch.no_grad():
        z = module.encoder(labelled_blobs(2, 30)[0][:16])
    assert float(trainer.callback_metrics["toy/spy_norm"]) == pytest.approx(
        float(z.norm(dim=1).mean())
    )


def test_every_n_epochs_zero_probes_only_at_fit_end() -> None:
    module = ToyModule(lr=0.01)
    fit(module, ProbeMonitor(every_n_epochs=0, k=3), max_epochs=3)
    assert module.probe_calls == 6  # once: 4 + 2 batches


def test_probe_list_and_period_are_checked() -> None:
    with pytest.raises(TypeError, match="Probe instances"):
        ProbeMonitor(probes=[lambda ctx: {}])
    with pytest.raises(ValueError, match="every_n_epochs"):
        ProbeMonitor(every_n_epochs=-1)

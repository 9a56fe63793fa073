"""Method.bind_data: the experiment layer hands each method its task's data, never the reverse."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from selfsup.cli.rankme_command import embed_rows
from selfsup.experiment import SSLModule, Task
from selfsup.experiment.embedding import embed_to_file
from selfsup.testing.boring import BoringDataModule, BoringMethod, quiet_trainer


class _LoggedData(BoringDataModule):
    """Records ``setup`` and ``predict_dataloader`` calls in a shared log."""

    def __init__(self, log: list[tuple[Any, ...]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log = log

    def setup(self, stage: str | None = None) -> None:
        self.log.append(("setup", self, stage))

    def predict_dataloader(self) -> Any:
        self.log.append(("predict_dataloader", self))
        return super().predict_dataloader()


class _BindingMethod(BoringMethod):
    """Records ``bind_data`` calls in a shared log."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.log = log

    def bind_data(self, data: Any, stage: str | None) -> None:
        self.log.append(("bind", self, data, stage))


def _fit(module: SSLModule, **kwargs: Any) -> Any:
    trainer = quiet_trainer(max_steps=1, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    return trainer


def test_setup_binds_each_method_to_its_own_data_after_the_data_is_set_up() -> None:
    log: list[tuple[Any, ...]] = []
    a, b = _BindingMethod(log), _BindingMethod(log)
    data_a, data_b = _LoggedData(log), _LoggedData(log, seed=1)
    module = SSLModule([Task("a", a, data_a), Task("b", b, data_b)])
    trainer = _fit(module)
    assert log == [
        ("setup", data_a, "fit"),
        ("bind", a, data_a, "fit"),
        ("setup", data_b, "fit"),
        ("bind", b, data_b, "fit"),
    ]
    log.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.validate(module, verbose=False)
    assert [entry[-1] for entry in log] == ["validate"] * 4
    assert [entry[0] for entry in log] == ["setup", "bind", "setup", "bind"]


def test_the_default_bind_data_does_nothing() -> None:
    method = BoringMethod()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    assert method.bind_data(BoringDataModule(), "fit") is None
    after = method.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_embed_to_file_binds_after_setup_and_before_the_predict_loader(tmp_path) -> None:
    log: list[tuple[Any, ...]] = []
    method, data = _BindingMethod(log), _LoggedData(log, num_samples=8, batch_size=4)
    embed_to_file(method.eval(), data, tmp_path / "e.npy", progress_bar=False, accelerator="cpu")
    assert log == [
        ("setup", data, "predict"),
        ("bind", method, data, "predict"),
        ("predict_dataloader", data),
    ]


@pytest.mark.parametrize("prepare", [True, False])
def test_rankme_rows_bind_every_candidate_to_the_data(prepare: bool) -> None:
    log: list[tuple[Any, ...]] = []
    method, data = _BindingMethod(log), _LoggedData(log, num_samples=8, batch_size=4)
    rows = embed_rows(method, data, max_rows=6, prepare=prepare)
    assert rows.shape == (6, 16)
    expected = [("bind", method, data, "predict"), ("predict_dataloader", data)]
    assert log == ([("setup", data, "predict")] if prepare else []) + expected

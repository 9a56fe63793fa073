"""Tests for selfsup.experiment.report (RunReport)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfsup.experiment import RunReport, SSLModule, probe_table
from selfsup.metrics import ProbeMonitor, RankMeMonitor
from selfsup.testing.boring import boring_task, quiet_trainer


def test_probe_table_layout() -> None:
    table = probe_table({"a": {"knn_acc": 0.5, "loss": 1.25}, "b": {"loss": 2.0}})
    assert table.splitlines() == [
        "| task | knn_acc | loss |",
        "|---|---|---|",
        "| a | 0.5000 | 1.2500 |",
        "| b |  | 2.0000 |",
    ]


def test_report_writes_table_json_and_plot(tmp_path: Path, capsys) -> None:
    module = SSLModule([boring_task("first", seed=0), boring_task("second", seed=1)])
    report = RunReport(every_n_steps=2)
    trainer = quiet_trainer(
        max_epochs=3,
        max_steps=-1,
        default_root_dir=str(tmp_path),
        callbacks=[
            RankMeMonitor(every_n_steps=2),
            ProbeMonitor(every_n_epochs=3, probe="both"),
            report,
        ],
    )
    trainer.fit(module)
    table = (tmp_path / "report.md").read_text()
    for text in ("| task | knn_acc | linear_acc | loss | rankme |", "| first |", "| second |"):
        assert text in table
    assert "| first |" in capsys.readouterr().out
    payload = json.loads((tmp_path / "report.json").read_text())
    assert payload["steps"] == trainer.global_step == 12
    loss_steps = [step for step, _ in payload["history"]["first"]["loss"]]
    assert loss_steps == sorted(loss_steps) and len(loss_steps) >= 5
    assert payload["final"]["second"]["knn_acc"] == pytest.approx(
        float(trainer.callback_metrics["second/knn_acc"])
    )
    png = (tmp_path / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and not list(tmp_path.glob("*.tmp*"))


def test_bad_period_is_refused() -> None:
    with pytest.raises(ValueError, match="every_n_steps must be a positive int"):
        RunReport(every_n_steps=0)

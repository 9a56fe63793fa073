"""The README's quickstart config: four modalities, one run, a report with a plot."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from selfsup.cli import main
from selfsup.plugins.configs import find_config
from selfsup.testing.ddp_fit import fit_on_processes, shipped_config

QUICKSTART = find_config("selfsup:quickstart")


def test_quickstart_trains_all_tasks_and_writes_the_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(QUICKSTART.read_text())
    config["trainer"].pop("max_epochs")
    config["trainer"]["max_steps"] = 6
    config["trainer"]["enable_progress_bar"] = False
    config["trainer"]["default_root_dir"] = str(tmp_path)
    for callback in config["trainer"]["callbacks"]:
        if callback["class_path"].endswith("RunReport"):
            callback["init_args"] = {"every_n_steps": 2, "folder": str(tmp_path / "run")}
        if callback["class_path"].endswith("RankMeMonitor"):
            callback["init_args"]["every_n_steps"] = 2
        if callback["class_path"].endswith("NodeProbeMonitor"):
            callback["init_args"]["epochs"] = 20
    path = tmp_path / "quickstart.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    assert main(["fit", "--config", str(path)]) == 0

    table = (tmp_path / "run" / "report.md").read_text()
    for task in ("digits", "graph", "table", "audio"):
        assert f"| {task} |" in table
    header = table.splitlines()[4]
    for column in ("knn_acc", "linear_acc", "probe_test_acc", "loss", "rankme"):
        assert column in header
    assert (tmp_path / "run" / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert "| digits |" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["shared_trunk.yaml", "data2vec_shared_trunk.yaml"])
def test_shared_trunk_config_trains_one_trunk_for_two_modalities(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load((QUICKSTART.parent / name).read_text())
    config["trainer"].pop("max_epochs")
    config["trainer"]["max_steps"] = 4
    config["trainer"]["enable_progress_bar"] = False
    config["trainer"]["callbacks"] = [
        {"class_path": "selfsup.experiment.RunReport", "init_args": {"plot": False}}
    ]
    config["trainer"]["default_root_dir"] = str(tmp_path)
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["fit", "--config", str(path)]) == 0
    table = (tmp_path / "report.md").read_text()
    assert "| digits |" in table and "| table |" in table


def test_mixed_config_with_temperature_sampling_trains_one_task_per_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load((QUICKSTART.parent / "shared_trunk.yaml").read_text())
    config["trainer"].pop("max_epochs")
    config["trainer"].update(max_steps=6, enable_progress_bar=False, default_root_dir=str(tmp_path))
    config["trainer"]["callbacks"] = [
        {"class_path": "selfsup.metrics.ProbeMonitor", "init_args": {"probe": "both"}},
        {"class_path": "selfsup.experiment.RunReport", "init_args": {"every_n_steps": 1}},
    ]
    config["model"].update(sampling="temperature", sampling_temperature=2.0, sampling_seed=0)
    path = tmp_path / "sampled.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["fit", "--config", str(path)]) == 0
    history = json.loads((tmp_path / "report.json").read_text())["history"]
    steps = {task: {s for s, _ in history[task].get("loss", [])} for task in ("digits", "table")}
    # seed 0 draws table, table, digits, table, digits, table: both tasks trained
    assert steps["digits"] and steps["table"]
    # each task is probed on its own data although a step holds only one task's batch
    final = json.loads((tmp_path / "report.json").read_text())["final"]
    for task in ("digits", "table"):
        for metric in ("knn_acc", "linear_acc"):
            assert 0.0 <= final[task][metric] <= 1.0, (task, metric)


@pytest.mark.distributed
def test_quickstart_trains_on_two_processes(tmp_path):
    # the README's config, unchanged but for its length, under --trainer.strategy ddp
    config = shipped_config("selfsup:quickstart")
    for callback in config["trainer"]["callbacks"]:
        if callback["class_path"].endswith("RunReport"):
            callback["init_args"]["folder"] = "run"
        if callback["class_path"].endswith("NodeProbeMonitor"):
            callback["init_args"]["epochs"] = 20
    run = fit_on_processes(config, tmp_path)
    for task in ("digits", "graph", "table", "audio"):
        assert math.isfinite(run.last(f"train/{task}/loss"))
        assert run.last(f"{task}/rankme") >= 1.0
    assert 0.0 <= run.last("digits/knn_acc") <= 1.0
    assert (tmp_path / "run" / "report.md").is_file()

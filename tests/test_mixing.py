"""Several modalities trained jointly in one experiment, from a YAML config with short names."""

from __future__ import annotations

import pytest
import yaml

from selfsup.cli import main

MIXED = {
    "seed_everything": 0,
    "trainer": {
        "max_steps": 3,
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
    },
    "model": {
        "tasks": [
            {
                "class_path": "selfsup.experiment.Task",
                "init_args": {
                    "name": "tabular",
                    "method": {
                        "class_path": "scarf",
                        "init_args": {"num_features": 12, "hidden_dim": 32},
                    },
                    "data": {
                        "class_path": "selfsup.testing.boring.RandomTensorDataModule",
                        "init_args": {"sample_shape": [12]},
                    },
                },
            },
            {
                "class_path": "selfsup.experiment.Task",
                "init_args": {
                    "name": "audio",
                    "weight": 0.5,
                    "method": {
                        "class_path": "audio:cola",
                        "init_args": {
                            "sample_rate": 8000,
                            "crop_samples": 2000,
                            "n_fft": 256,
                            "win_length": 200,
                            "hop_length": 80,
                            "n_mels": 32,
                            "f_max": 3900.0,
                            "width": 8,
                            "feature_dim": 32,
                            "projection_dim": 16,
                        },
                    },
                    "data": {
                        "class_path": "selfsup.testing.boring.RandomTensorDataModule",
                        "init_args": {"sample_shape": [4000], "seed": 1},
                    },
                },
            },
            {
                "class_path": "selfsup.experiment.Task",
                "init_args": {
                    "name": "vector",
                    "method": {"class_path": "selfsup.testing.boring.BoringMethod"},
                    "data": {"class_path": "selfsup.testing.boring.BoringDataModule"},
                },
            },
        ],
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-3}},
    },
}


@pytest.fixture
def config_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(MIXED, sort_keys=False))
    return path


def test_mixed_modalities_fit(config_path):
    assert main(["fit", "--config", str(config_path)]) == 0


def test_mixed_config_print_round_trip(config_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", str(config_path), "--print_config"])
    assert stop.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    tasks = printed["model"]["tasks"]
    assert tasks[0]["init_args"]["method"]["class_path"] == "selfsup_tabular.methods.scarf.SCARF"
    assert tasks[1]["init_args"]["method"]["class_path"] == "selfsup_audio.methods.cola.COLA"
    again = config_path.with_name("again.yaml")
    again.write_text(yaml.safe_dump(printed, sort_keys=False))
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(again), "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out) == printed

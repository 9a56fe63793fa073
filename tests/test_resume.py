"""Kill a mixed-modality run mid-epoch (SIGKILL) and resume it to bit-identical final weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from selfsup.cli import main
from selfsup.plugins.configs import find_config

QUICKSTART = find_config("selfsup:quickstart")
FINAL_STEP, KILL_STEP, EVERY = 20, 17, 5


def _config(tmp_path: Path, name: str, kill: bool) -> Path:
    """The quickstart's three tasks (digits, graph, table) with checkpoints every 5 steps."""
    config = yaml.safe_load(QUICKSTART.read_text())
    trainer = config["trainer"]
    trainer.update(
        max_epochs=-1,
        max_steps=FINAL_STEP,
        deterministic=True,
        enable_checkpointing=True,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path / name),
    )
    trainer["callbacks"] = [
        {
            "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
            "init_args": {
                "dirpath": str(tmp_path / name / "checkpoints"),
                "every_n_train_steps": EVERY,
                "save_last": True,
                "save_top_k": -1,
            },
        }
    ]
    if kill:
        trainer["callbacks"].append(
            {"class_path": "selfsup.testing.faults.KillAtStep", "init_args": {"step": KILL_STEP}}
        )
    config["model"]["exact_resume"] = True
    path = tmp_path / f"{name}{'_kill' if kill else ''}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _assert_same(expected: object, got: object, key: str) -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(got, torch.Tensor) and torch.equal(expected, got), key
    elif isinstance(expected, dict):  # a module's extra state
        assert isinstance(got, dict) and expected.keys() == got.keys(), key
        for name, value in expected.items():
            _assert_same(value, got[name], f"{key}.{name}")
    else:
        assert expected == got, key


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture
def one_thread():
    # Bit-identity holds for the same hardware and thread count: reductions split across
    # threads round differently. Every run below, in-process or not, uses one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_sigkilled_mixed_run_resumes_to_identical_weights(tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(_config(tmp_path, "reference", kill=False))]) == 0

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    killed = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfsup.cli",
            "fit",
            "--config",
            str(_config(tmp_path, "run", True)),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=False)
    assert saved["global_step"] == 15
    progress = saved["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"]
    assert progress > 0, "the checkpoint should sit mid-epoch"

    resume = [
        "fit",
        "--config",
        str(_config(tmp_path, "run", kill=False)),
        "--ckpt_path",
        str(last),
    ]
    assert main(resume) == 0

    expected = _weights(tmp_path / "reference" / "checkpoints" / "last.ckpt")
    got = _weights(last)
    assert expected.keys() == got.keys()
    assert any("teacher" in key for key in expected)  # T-JEPA's EMA target came along
    for key, value in expected.items():
        _assert_same(value, got[key], key)

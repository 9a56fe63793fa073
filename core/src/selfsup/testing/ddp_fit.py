"""Run a ``selfsup fit`` config on several CPU processes (DDP over gloo), as a user would.

Each plugin's tests run its main config this way for a few steps on generated data (CI has no
data sets), so "every shipped config trains under ``--trainer.strategy ddp``" is checked where
it can break: Lightning's DDP launcher, parameters a step leaves without a gradient (DDP stops
at the step after), epoch-level metrics logged without a cross-rank reduction, and monitors and
probes that must take part in collectives on every rank.

The command is the CLI itself in a fresh interpreter (``python -m selfsup.cli fit``), because
Lightning's ``ddp`` strategy starts the other ranks by re-running that command line.

Examples::

    config = shipped_config("graph:graphmae_cora")
    config["model"]["tasks"][0]["init_args"]["data"]["init_args"]["root"] = str(tiny_root)
    run = fit_on_processes(config, tmp_path)
    assert run.last("train/loss") is not None
"""

from __future__ import annotations

import copy
import csv
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from selfsup.plugins.configs import find_config

__all__ = ["FitRun", "fit_on_processes", "shipped_config", "task_init_args"]

# What a run must not print: Lightning's advice for epoch-level values logged on every rank
# without a reduction (each rank's logger would record its own number).
_SYNC_WARNING = "when logging on epoch level in distributed setting"


@dataclass
class FitRun:
    """What one multi-process ``selfsup fit`` left: its console output and logged metrics.

    Attributes:
        output: stdout and stderr of all ranks together.
        metrics: rows of the CSV logger (rank 0 writes them), in order.
    """

    output: str
    metrics: list[dict[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[float]:
        """Every logged value of ``name``, in order."""
        return [float(row[name]) for row in self.metrics if row.get(name, "") != ""]

    def last(self, name: str) -> float | None:
        """The last logged value of ``name`` (``None`` when it was never logged)."""
        values = self.values(name)
        return values[-1] if values else None


def shipped_config(qualified: str) -> dict[str, Any]:
    """The parsed YAML of the shipped config ``owner:name`` (a copy to edit)."""
    return copy.deepcopy(yaml.safe_load(find_config(qualified).read_text()))


def task_init_args(config: Mapping[str, Any], task: int = 0) -> tuple[dict, dict]:
    """``(method init_args, data init_args)`` of the ``task``-th task of a config, to edit."""
    init = config["model"]["tasks"][task]["init_args"]
    return init["method"].setdefault("init_args", {}), init["data"].setdefault("init_args", {})


def _callbacks(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from config["trainer"].get("callbacks") or []


def fit_on_processes(
    config: Mapping[str, Any],
    workdir: Path,
    *,
    processes: int = 2,
    steps: int = 3,
    strategy: str | None = "ddp",
    env: Mapping[str, str] | None = None,
    timeout: float = 900.0,
) -> FitRun:
    """Train ``config`` for ``steps`` optimiser steps on ``processes`` CPU ranks (``strategy``,
    default DDP; ``None`` keeps the config's).

    The config is edited only where a short check needs it: the trainer runs ``steps`` steps
    (no validation loop, no progress bar) and logs to CSV under ``workdir``; ``RankMeMonitor``
    logs at step 2 and ``ProbeMonitor`` probes at the end of fit, so both take part. The
    method, data, optimiser and callbacks are the config's. ``workdir`` is the working
    directory, so relative output paths of the config land there.

    Raises:
        AssertionError: the run failed (the message holds the end of its output) or logged an
            epoch-level metric without a cross-rank reduction.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(dict(config))
    trainer = config.setdefault("trainer", {})
    trainer.pop("max_epochs", None)
    trainer.update(
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        default_root_dir=str(workdir),
        logger={
            "class_path": "lightning.pytorch.loggers.CSVLogger",
            "init_args": {"save_dir": str(workdir), "name": "ddp", "version": 0},
        },
    )
    for callback in _callbacks(config):
        args = callback.setdefault("init_args", {})
        if callback["class_path"].endswith("RankMeMonitor"):
            args["every_n_steps"] = 2
        elif callback["class_path"].endswith("ProbeMonitor"):
            args["every_n_epochs"] = 0
    path = workdir / "ddp_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "selfsup.cli", "fit", "--config", str(path)]
    if strategy is not None:  # None: the config's own (e.g. a ModelParallelStrategy block)
        command += ["--trainer.strategy", strategy]
    command += ["--trainer.accelerator", "cpu"]
    command += ["--trainer.devices", str(processes)]
    # one thread per rank: the ranks share the machine's cores
    run_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    done = subprocess.run(
        command,
        cwd=workdir,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    output = done.stdout
    if done.returncode != 0:
        raise AssertionError(
            f"`{' '.join(command)}` failed with exit code {done.returncode}:\n{output[-6000:]}"
        )
    if _SYNC_WARNING in output:
        line = next(x for x in output.splitlines() if _SYNC_WARNING in x)
        raise AssertionError(f"an epoch-level metric is logged without sync_dist: {line.strip()}")
    metrics_file = workdir / "ddp" / "version_0" / "metrics.csv"
    rows = list(csv.DictReader(metrics_file.open())) if metrics_file.is_file() else []
    return FitRun(output=output, metrics=rows)

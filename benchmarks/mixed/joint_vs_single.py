"""Joint multi-task pre-training vs each task alone with the same budget.

Runs a mixed-modality ``selfsup fit`` config (default: the quickstart) once with all its tasks,
then once per task with only that task, each task getting as many optimiser steps alone as it
got in the joint run (with ``sampling: all`` every joint step trains every task). Each run
writes a :class:`selfsup.experiment.RunReport`; this script reads the final probe scores and
prints a table, then one JSON line with, per task, ``joint`` and ``single`` scores.

    python benchmarks/mixed/joint_vs_single.py [--config selfsup:quickstart]
        [--seeds 0,1] [--balancing sum,mgda,pcgrad] [--out benchmarks/mixed/results/x.json]

``--balancing`` runs the joint experiment once per rule (``SSLModule(balancing=...)``): the
first rule's scores are ``joint``, the others' ``joint_<rule>``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from selfsup.plugins.configs import find_config

ROOT = Path(__file__).resolve().parents[2]


def _config_path(value: str) -> Path:
    """A config file, or the file of a shipped config name (``selfsup:quickstart``)."""
    return Path(value) if Path(value).is_file() else find_config(value)


SCORES = ("knn_acc", "linear_acc", "probe_test_acc")


def _report_callback(config: dict) -> dict:
    for callback in config["trainer"].get("callbacks", []):
        if callback["class_path"].endswith("RunReport"):
            return callback
    raise SystemExit("the config has no selfsup.experiment.RunReport callback to read scores from.")


def _run(config: dict, folder: Path, threads: int) -> tuple[dict, float]:
    folder.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(config)
    config["trainer"]["default_root_dir"] = str(folder)
    config["trainer"]["enable_progress_bar"] = False
    _report_callback(config).setdefault("init_args", {})["folder"] = str(folder)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "selfsup.cli", "fit", "--config", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"run in {folder} failed (exit {done.returncode}).")
    return json.loads((folder / "report.json").read_text()), seconds


def _score(final: dict) -> dict:
    return {k: final[k] for k in SCORES if k in final}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config", default="selfsup:quickstart", help="a YAML file or a shipped config name"
    )
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument(
        "--balancing",
        default="sum",
        help="comma-separated SSLModule balancing rules for the joint runs (sum, mgda, pcgrad)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="also write the JSON line to this file")
    parser.add_argument("--machine", default=None, help="free-text label stored in the JSON")
    args = parser.parse_args()

    base = yaml.safe_load(_config_path(args.config).read_text())
    tasks = [t["init_args"]["name"] for t in base["model"]["tasks"]]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rules = [r.strip() for r in args.balancing.split(",") if r.strip()]
    # "joint" is the first rule's runs (the weighted sum by default), "joint_<rule>" the others
    modes = {rule: "joint" if i == 0 else f"joint_{rule}" for i, rule in enumerate(rules)}
    results: dict[str, dict[str, list[dict]]] = {
        t: {**{m: [] for m in modes.values()}, "single": []} for t in tasks
    }
    timing = {**{m: 0.0 for m in modes.values()}, "single": 0.0}
    with tempfile.TemporaryDirectory(prefix="selfsup-mixed-") as tmp:
        for seed in seeds:
            config = copy.deepcopy(base)
            config["seed_everything"] = seed
            for rule, mode in modes.items():
                run = copy.deepcopy(config)
                run["model"]["balancing"] = rule
                report, seconds = _run(run, Path(tmp) / f"{mode}-{seed}", args.threads)
                timing[mode] += seconds
                steps = int(report["steps"])
                print(f"seed {seed}: {mode} run, {steps} steps, {seconds:.0f} s", file=sys.stderr)
                for task in tasks:
                    results[task][mode].append(_score(report["final"].get(task, {})))
            for task in tasks:
                alone = copy.deepcopy(config)
                alone["model"]["tasks"] = [
                    t for t in alone["model"]["tasks"] if t["init_args"]["name"] == task
                ]
                alone["trainer"].pop("max_epochs", None)
                alone["trainer"]["max_steps"] = steps  # the same optimiser steps as jointly
                alone["trainer"]["max_epochs"] = -1
                report, seconds = _run(alone, Path(tmp) / f"{task}-{seed}", args.threads)
                timing["single"] += seconds
                print(f"seed {seed}: {task} alone, {seconds:.0f} s", file=sys.stderr)
                results[task]["single"].append(_score(report["final"].get(task, {})))

    summary: dict[str, dict[str, dict[str, float]]] = {}
    header = " | ".join(list(modes.values()) + ["alone"])
    lines = [f"| task | metric | {header} |", "|---|---|" + "---|" * (len(modes) + 1)]
    for task, runs in results.items():
        summary[task] = {}
        for mode in runs:
            keys = sorted({k for r in runs[mode] for k in r})
            summary[task][mode] = {
                k: sum(r[k] for r in runs[mode] if k in r) / len(runs[mode]) for k in keys
            }
        for metric in summary[task]["joint"]:
            cells = [
                summary[task][m].get(metric, float("nan")) for m in [*modes.values(), "single"]
            ]
            lines.append(f"| {task} | {metric} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    print("\n".join(lines), file=sys.stderr)
    record = {
        "benchmark": "mixed.joint_vs_single",
        "config": args.config,
        "seeds": seeds,
        "balancing": rules,
        "tasks": summary,
        "seconds": {k: round(v, 1) for k, v in timing.items()},
        "threads": args.threads,
        "machine": args.machine or platform.processor() or platform.machine(),
    }
    line = json.dumps(record)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()

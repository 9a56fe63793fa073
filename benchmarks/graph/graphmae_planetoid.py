"""GraphMAE (or GraphMAE2) pre-training on a Planetoid graph, probed on the public split.

For each seed: runs the shipped Lightning config (``graph:graphmae_cora``,
or ``graph:graphmae2_cora`` with ``--graphmae2``) through ``selfsup``'s LightningCLI with that
seed, then fits GraphMAE's linear probe on the frozen node embeddings (train mask, best
validation epoch, test accuracy; probe settings from the config's ``NodeProbeMonitor``).
Prints per-seed results and the mean/std (population std, as GraphMAE reports) to stderr,
and one JSON line last on stdout.

    python benchmarks/graph/graphmae_planetoid.py --data-root /path/to/data --dataset Cora \\
        --seeds 5 [--graphmae2] [--epochs N] [--threads 1]

Sending SIGUSR1 makes it stop after the seed in progress and report the seeds that finished
(``"stopped_early": true`` in the JSON).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from selfsup.cli.lightning import run_lightning_cli
from selfsup.plugins.configs import find_config
from selfsup_graph.data import PlanetoidDataModule
from selfsup_graph.evaluation import embed_nodes, mean_std, node_linear_probe


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _probe_settings(config: dict[str, Any]) -> dict[str, Any]:
    for callback in config.get("trainer", {}).get("callbacks") or []:
        if str(callback.get("class_path", "")).endswith("NodeProbeMonitor"):
            args = callback.get("init_args", {})
            return {
                "lr": float(args.get("lr", 0.01)),
                "weight_decay": float(args.get("weight_decay", 1e-4)),
                "epochs": int(args.get("epochs", 300)),
            }
    return {"lr": 0.01, "weight_decay": 1e-4, "epochs": 300}


def seed_config(
    base: dict[str, Any],
    *,
    seed: int,
    dataset: str,
    data_root: str | None,
    in_channels: int,
    epochs: int | None,
) -> dict[str, Any]:
    """The shipped config for one benchmark run (no progress bar, logger, callbacks)."""
    config = copy.deepcopy(base)
    config["seed_everything"] = seed
    trainer = config.setdefault("trainer", {})
    if epochs is not None:
        trainer["max_epochs"] = epochs
        scheduler = config["model"].get("scheduler")
        if scheduler and "T_max" in scheduler.get("init_args", {}):
            scheduler["init_args"]["T_max"] = epochs
    trainer.update(
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=None,
    )
    task = config["model"]["tasks"][0]["init_args"]
    task["method"]["init_args"]["in_channels"] = in_channels
    task["data"]["init_args"].update(name=dataset, root=data_root)
    return config


def run_seed(config: dict[str, Any], probe: dict[str, Any], seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        cli = run_lightning_cli(["--config", str(path)], run=False)
    module = cli.model
    task = next(iter(module.tasks.values()))
    start = time.perf_counter()
    cli.trainer.fit(module)
    fit_seconds = time.perf_counter() - start
    epochs = int(cli.trainer.current_epoch)
    graph = task.data.probe_graph()
    embeddings = embed_nodes(task.method, graph.to(module.device))
    start = time.perf_counter()
    result = node_linear_probe(
        embeddings,
        graph.y,
        graph.train_mask,
        graph.val_mask,
        graph.test_mask,
        seed=seed,
        **probe,
    )
    return {
        "seed": seed,
        "test_acc": result.test_acc,
        "val_acc": result.val_acc,
        "best_probe_epoch": result.best_epoch,
        "final_test_acc": result.final_test_acc,
        "epochs": epochs,
        "fit_seconds": fit_seconds,
        "sec_per_epoch": fit_seconds / max(1, epochs),
        "probe_seconds": time.perf_counter() - start,
        "final_loss": float(cli.trainer.callback_metrics.get("train/loss", float("nan"))),
    }


def _parse_seeds(parser: argparse.ArgumentParser, text: str) -> list[int]:
    """``"5"`` -> seeds 0..4; ``"3,4"`` or ``"3,"`` -> exactly those seeds."""
    try:
        if "," in text:
            return [int(s) for s in text.split(",") if s.strip()]
        count = int(text)
    except ValueError:
        parser.error(f"--seeds takes a count or a comma-separated list of seeds, got {text!r}.")
    if count < 1:
        parser.error(
            f"--seeds {text} runs nothing: give a count >= 1, or '{text},' for seed {text}."
        )
    return list(range(count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-root",
        default=None,
        help="folder holding planetoid/<name>/raw (default: $SELFSUP_DATA; with neither, stop)",
    )
    parser.add_argument("--dataset", default="Cora", help="Cora, CiteSeer or PubMed")
    parser.add_argument(
        "--seeds", default="5", help="a count (0..n-1) or a list like 0,3,7 (one seed: '3,')"
    )
    parser.add_argument("--graphmae2", action="store_true", help="use graphmae2_cora.yaml")
    parser.add_argument("--config", default=None, help="another Lightning config")
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--machine", default=None, help="free-text label stored in the JSON")
    args = parser.parse_args()

    seeds = _parse_seeds(parser, args.seeds)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = "graphmae2_cora.yaml" if args.graphmae2 else "graphmae_cora.yaml"
    config_path = (
        Path(args.config) if args.config else find_config("graph:" + name.removesuffix(".yaml"))
    )
    base = yaml.safe_load(config_path.read_text())
    probe = _probe_settings(base)
    data = PlanetoidDataModule(name=args.dataset, root=args.data_root)
    in_channels = data.num_features
    _log(
        f"{args.dataset}: {data.graph.num_nodes} nodes, {in_channels} features; config "
        f"{config_path.name}; probe {probe}; threads {torch.get_num_threads()}"
    )

    stop = {"requested": False}

    def request_stop(signum: int, frame: Any) -> None:
        stop["requested"] = True
        _log("SIGUSR1: stopping after the seed in progress")

    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, request_stop)

    total_start = time.perf_counter()
    runs = []
    for seed in seeds:
        if stop["requested"]:
            break
        config = seed_config(
            base,
            seed=seed,
            dataset=args.dataset,
            data_root=args.data_root,
            in_channels=in_channels,
            epochs=args.epochs,
        )
        run = run_seed(config, probe, seed)
        runs.append(run)
        _log(
            f"seed {seed}: test_acc {100 * run['test_acc']:.2f} (best val "
            f"{100 * run['val_acc']:.2f} at probe epoch {run['best_probe_epoch']}; last-epoch "
            f"test {100 * run['final_test_acc']:.2f}) | {run['epochs']} epochs, "
            f"{run['sec_per_epoch']:.3f} s/epoch, fit {run['fit_seconds']:.1f} s"
        )
    total = time.perf_counter() - total_start
    acc_mean, acc_std = mean_std([100 * r["test_acc"] for r in runs])
    final_mean, final_std = mean_std([100 * r["final_test_acc"] for r in runs])
    sec_per_epoch = sum(r["fit_seconds"] for r in runs) / max(1, sum(r["epochs"] for r in runs))
    _log(
        f"{args.dataset} test accuracy over {len(runs)} seed(s): {acc_mean:.2f} +- {acc_std:.2f} "
        f"(best-val probe epoch); last probe epoch {final_mean:.2f} +- {final_std:.2f}; "
        f"{sec_per_epoch:.3f} s/epoch; total {total:.1f} s"
    )
    record = {
        "benchmark": "graph.graphmae_planetoid",
        "dataset": args.dataset,
        "variant": "graphmae2" if args.graphmae2 else "graphmae",
        "config": str(config_path),
        "acc_mean": acc_mean,
        "acc_std": acc_std,
        "final_acc_mean": final_mean,
        "final_acc_std": final_std,
        "seeds": [r["seed"] for r in runs],
        "seeds_requested": seeds,
        "stopped_early": len(runs) < len(seeds),
        "epochs": runs[0]["epochs"] if runs else None,
        "sec_per_epoch": sec_per_epoch,
        "total_seconds": total,
        "threads": torch.get_num_threads(),
        "machine": args.machine,
        "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "pid": os.getpid(),
        "runs": runs,
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()

"""GraphMAE (or GraphMAE2) pre-training on a Planetoid graph, probed on the public split.

For each seed: runs the shipped Lightning config (``graph:graphmae_cora``,
or ``graph:graphmae2_cora`` with ``--graphmae2``) through ``selfsup``'s LightningCLI with that
seed, then fits GraphMAE's linear probe on the frozen node embeddings (train mask, best
validation epoch, test accuracy; probe settings from the config's ``NodeProbe``).
Prints per-seed results and the mean/std (population std, as GraphMAE reports) to stderr,
and one JSON line last on stdout.

    python benchmarks/graph/graphmae_planetoid.py --data-root /path/to/data --dataset Cora \\
        --seeds 5 [--graphmae2] [--epochs N] [--threads 1]

Sending SIGUSR1 makes it stop after the seed in progress and report the seeds that finished
(``"stopped_early": true`` in the JSON).

Validation-only sweeps (nothing reads a test label): ``--no-test`` probes without the test mask,
``--set method.latent_weight=0.5`` (also ``data.*``, e.g. ``data.batch_size=512`` for
neighbour-sampled mini-batches, ``optimizer.*``, ``model.*``, ``trainer.*``) overrides the
config, ``--probe-lr 0.01,0.025 --probe-wd 1e-4,1e-3`` probes every combination (per run:
best-validation accuracy and epoch, last-epoch validation accuracy), ``--jsonl runs.jsonl``
appends one line per run with those and RankMe of the embeddings (``selfsup.metrics.rankme``),
``--tag`` names the setting in it. ``benchmarks/graph/sweep_summary.py`` then chooses on
validation; the chosen probe is given back with ``--probe-lr X --probe-wd Y --probe-rule
best_val|last`` for the one scored run.
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
from selfsup.metrics import rankme
from selfsup.plugins.configs import find_config
from selfsup_graph.data import PlanetoidDataModule
from selfsup_graph.evaluation import embed_nodes, mean_std, node_linear_probe


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def node_probe_args(config: dict[str, Any]) -> dict[str, Any] | None:
    """The ``NodeProbe`` arguments of a config's probe monitor (``ProbeMonitor(probes=[NodeProbe])``
    or the deprecated ``NodeProbeMonitor``), or None when it has none."""
    for callback in config.get("trainer", {}).get("callbacks") or []:
        args = callback.get("init_args") or {}
        if str(callback.get("class_path", "")).endswith("NodeProbeMonitor"):
            return {k: v for k, v in args.items() if k != "every_n_epochs"}
        for probe in args.get("probes") or []:
            if str(probe.get("class_path", "")).endswith("NodeProbe"):
                return dict(probe.get("init_args") or {})
    return None


def _probe_settings(config: dict[str, Any]) -> dict[str, Any]:
    args = node_probe_args(config) or {}
    return {
        "lr": float(args.get("lr", 0.01)),
        "weight_decay": float(args.get("weight_decay", 1e-4)),
        "epochs": int(args.get("epochs", 300)),
    }


_SET_PREFIXES = ("method.", "data.", "optimizer.", "model.", "trainer.")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["method.latent_weight=0.5", ...]`` -> ``{"method.latent_weight": 0.5}`` (YAML values)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith(_SET_PREFIXES) or key.endswith("."):
            raise ValueError(
                f"--set takes KEY=VALUE, KEY starting with one of {_SET_PREFIXES}; got {item!r}."
            )
        out[key] = yaml.safe_load(value)
    return out


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Write ``--set`` values into a config (method/optimizer init_args, model, trainer)."""
    for key, value in overrides.items():
        head, _, name = key.partition(".")
        if head == "method":
            target = config["model"]["tasks"][0]["init_args"]["method"]["init_args"]
        elif head == "data":
            target = config["model"]["tasks"][0]["init_args"]["data"].setdefault("init_args", {})
        elif head == "optimizer":
            target = config["model"]["optimizer"]["init_args"]
        elif head == "model":
            target = config["model"]
        else:
            target = config.setdefault("trainer", {})
        target[name] = value


def seed_config(
    base: dict[str, Any],
    *,
    seed: int,
    dataset: str,
    data_root: str | None,
    in_channels: int,
    epochs: int | None,
    overrides: dict[str, Any] | None = None,
    num_nodes: int | None = None,
) -> dict[str, Any]:
    """The shipped config for one benchmark run (no progress bar, logger, callbacks).

    With ``data.batch_size`` (neighbour-sampled mini-batches of that many seed nodes) an epoch
    is ``ceil(num_nodes / batch_size)`` optimiser steps, and a cosine ``T_max`` given in steps
    is set to ``epochs`` times that.
    """
    config = copy.deepcopy(base)
    apply_overrides(config, overrides or {})
    config["seed_everything"] = seed
    trainer = config.setdefault("trainer", {})
    if epochs is not None:
        trainer["max_epochs"] = epochs
        scheduler = config["model"].get("scheduler")
        if scheduler and "T_max" in scheduler.get("init_args", {}):
            data_args = config["model"]["tasks"][0]["init_args"]["data"].get("init_args") or {}
            batch = data_args.get("batch_size")
            steps = -(-num_nodes // batch) if batch and num_nodes else 1
            scheduler["init_args"]["T_max"] = epochs * steps
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


def probe_grid(
    embeddings: torch.Tensor,
    graph: Any,
    probe: dict[str, Any],
    lrs: list[float],
    wds: list[float],
    seed: int,
) -> list[dict[str, Any]]:
    """Validation-only probes for every (lr, weight decay): no test label is read."""
    out = []
    for lr in lrs:
        for wd in wds:
            r = node_linear_probe(
                embeddings,
                graph.y,
                graph.train_mask,
                graph.val_mask,
                None,
                lr=lr,
                weight_decay=wd,
                epochs=probe["epochs"],
                seed=seed,
            )
            out.append(
                {
                    "lr": lr,
                    "weight_decay": wd,
                    "best_val_acc": r.val_acc,
                    "best_epoch": r.best_epoch,
                    "last_val_acc": r.final_val_acc,
                }
            )
    return out


def run_seed(
    config: dict[str, Any],
    probe: dict[str, Any],
    seed: int,
    *,
    score_test: bool = True,
    grid: tuple[list[float], list[float]] | None = None,
    save_embeddings: Path | None = None,
) -> dict[str, Any]:
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
    if save_embeddings is not None:
        save_embeddings.parent.mkdir(parents=True, exist_ok=True)
        torch.save(embeddings.detach().cpu(), save_embeddings)
    start = time.perf_counter()
    result = node_linear_probe(
        embeddings,
        graph.y,
        graph.train_mask,
        graph.val_mask,
        graph.test_mask if score_test else None,
        seed=seed,
        **probe,
    )
    grid_results = probe_grid(embeddings, graph, probe, *grid, seed) if grid else []
    return {
        "seed": seed,
        "test_acc": result.test_acc,
        "val_acc": result.val_acc,
        "last_val_acc": result.final_val_acc,
        "best_probe_epoch": result.best_epoch,
        "final_test_acc": result.final_test_acc,
        # RankMe of the frozen embeddings (all nodes, no labels): an unsupervised selection signal
        "rankme": float(rankme(embeddings.detach().float().cpu())),
        "probe_grid": grid_results,
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
    parser.add_argument(
        "--config", default=None, help="another Lightning config: a path or a name (graph:dgi_cora)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--machine", default=None, help="free-text label stored in the JSON")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override: method.<arg>, data.<arg>, optimizer.<arg>, model.<arg> or trainer.<arg> "
        "(repeatable)",
    )
    parser.add_argument(
        "--no-test", action="store_true", help="never read a test label (validation-only sweeps)"
    )
    parser.add_argument("--probe-lr", default=None, help="probe lr(s), comma-separated")
    parser.add_argument("--probe-wd", default=None, help="probe weight decay(s), comma-separated")
    parser.add_argument(
        "--probe-rule",
        choices=("best_val", "last"),
        default="best_val",
        help="reported probe: best-validation epoch (default) or last epoch",
    )
    parser.add_argument("--jsonl", default=None, help="append one JSON line per run here")
    parser.add_argument("--tag", default=None, help="name of this setting in the JSONL")
    parser.add_argument("--save-embeddings", default=None, help="folder for <tag>_seed<s>.pt")
    args = parser.parse_args()
    try:
        overrides = parse_overrides(args.set)
    except ValueError as err:
        parser.error(str(err))
    probe_lrs = [float(v) for v in args.probe_lr.split(",")] if args.probe_lr else None
    probe_wds = [float(v) for v in args.probe_wd.split(",")] if args.probe_wd else None

    seeds = _parse_seeds(parser, args.seeds)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = "graphmae2_cora.yaml" if args.graphmae2 else "graphmae_cora.yaml"
    config_path = (
        find_config("graph:" + name.removesuffix(".yaml"))
        if not args.config
        else Path(args.config)
        if Path(args.config).exists() or ":" not in args.config
        else find_config(args.config)
    )
    base = yaml.safe_load(config_path.read_text())
    probe = _probe_settings(base)
    grid = None
    if (probe_lrs and len(probe_lrs) > 1) or (probe_wds and len(probe_wds) > 1):
        # several probe settings: each is recorded on validation; the primary probe keeps the
        # config's settings (a choice among them is made later, on validation)
        grid = (probe_lrs or [probe["lr"]], probe_wds or [probe["weight_decay"]])
    else:
        probe["lr"] = probe_lrs[0] if probe_lrs else probe["lr"]
        probe["weight_decay"] = probe_wds[0] if probe_wds else probe["weight_decay"]
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
            num_nodes=data.graph.num_nodes,
            epochs=args.epochs,
            overrides=overrides,
        )
        emb_path = None
        if args.save_embeddings:
            emb_path = Path(args.save_embeddings) / f"{args.tag or 'run'}_seed{seed}.pt"
        run = run_seed(
            config,
            probe,
            seed,
            score_test=not args.no_test,
            grid=grid,
            save_embeddings=emb_path,
        )
        # the reported probe, by a rule fixed before the run (chosen on validation)
        if not args.no_test:
            run["reported_test_acc"] = (
                run["test_acc"] if args.probe_rule == "best_val" else run["final_test_acc"]
            )
        runs.append(run)
        test_part = (
            "test not read"
            if args.no_test
            else f"test_acc {100 * run['test_acc']:.2f}, last-epoch test "
            f"{100 * run['final_test_acc']:.2f}"
        )
        _log(
            f"seed {seed}: {test_part} | best val {100 * run['val_acc']:.2f} at probe epoch "
            f"{run['best_probe_epoch']}, last-epoch val {100 * run['last_val_acc']:.2f}, RankMe "
            f"{run['rankme']:.1f} | {run['epochs']} epochs, {run['sec_per_epoch']:.3f} s/epoch, "
            f"fit {run['fit_seconds']:.1f} s"
        )
        if args.jsonl:
            line = {"tag": args.tag, "overrides": overrides, "probe": probe, **run}
            line["epochs_requested"] = args.epochs
            with open(args.jsonl, "a") as fh:
                fh.write(json.dumps(line) + "\n")
    total = time.perf_counter() - total_start
    val_mean, val_std = mean_std([100 * r["val_acc"] for r in runs]) if runs else (0.0, 0.0)
    if args.no_test or not runs:
        acc_mean = acc_std = final_mean = final_std = float("nan")
        reported_mean = reported_std = float("nan")
    else:
        acc_mean, acc_std = mean_std([100 * r["test_acc"] for r in runs])
        final_mean, final_std = mean_std([100 * r["final_test_acc"] for r in runs])
        reported_mean, reported_std = mean_std([100 * r["reported_test_acc"] for r in runs])
    sec_per_epoch = sum(r["fit_seconds"] for r in runs) / max(1, sum(r["epochs"] for r in runs))
    _log(
        f"{args.dataset} over {len(runs)} seed(s): best val {val_mean:.2f} +- {val_std:.2f}; test "
        f"(best-val probe epoch) {acc_mean:.2f} +- {acc_std:.2f}; last probe epoch "
        f"{final_mean:.2f} +- {final_std:.2f}; reported ({args.probe_rule}) {reported_mean:.2f} "
        f"+- {reported_std:.2f}; {sec_per_epoch:.3f} s/epoch; total {total:.1f} s"
    )
    variant = "graphmae2" if args.graphmae2 else "graphmae"
    if args.config:
        variant = config_path.stem
    record = {
        "benchmark": "graph.graphmae_planetoid",
        "dataset": args.dataset,
        "variant": variant,
        "config": args.config if args.config and ":" in args.config else config_path.name,
        "acc_mean": acc_mean,
        "acc_std": acc_std,
        "final_acc_mean": final_mean,
        "final_acc_std": final_std,
        "val_mean": val_mean,
        "val_std": val_std,
        "probe_rule": args.probe_rule,
        "reported_acc_mean": reported_mean,
        "reported_acc_std": reported_std,
        "test_read": not args.no_test,
        "probe": probe,
        "overrides": overrides,
        "tag": args.tag,
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

"""The built-in default experiment measured against label-free baselines.

Runs the shipped config ``selfsup:digits_simclr`` (SimCLR on scikit-learn's digits) once
per seed and probes the encoder's features with kNN and a linear probe; the same
probes on raw pixels and on the encoder at random initialisation are the
baselines. Prints a table to stderr and one JSON line last.

    python benchmarks/core/digits_simclr.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import torch

from selfsup.cli.lightning import run_lightning_cli
from selfsup.demo import DigitsDataModule
from selfsup.metrics import knn_accuracy, linear_probe, rankme
from selfsup.plugins.configs import find_config

CONFIG = find_config("selfsup:digits_simclr")


def _scores(encode: Callable[[torch.Tensor], torch.Tensor], data: DigitsDataModule) -> dict:
    feats = {}
    for split, loader in zip(("train", "test"), data.probe_dataloaders()):
        with torch.no_grad():
            pairs = [(encode(x), y) for x, y in loader]
        feats[split] = (torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs]))
    (xtr, ytr), (xte, yte) = feats["train"], feats["test"]
    return {
        "knn_acc": knn_accuracy(xtr, ytr, xte, yte, k=20),
        "linear_acc": linear_probe(xtr, ytr, xte, yte).accuracy,
        "rankme": float(rankme(xtr)),
    }


def run(seed: int, epochs: int | None) -> dict[str, dict[str, float]]:
    args = [
        "--config",
        str(CONFIG),
        f"--seed_everything={seed}",
        "--trainer.enable_progress_bar=false",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_model_summary=false",
        "--trainer.accelerator=cpu",
    ]
    if epochs is not None:
        args.append(f"--trainer.max_epochs={epochs}")
    cli = run_lightning_cli(args, run=False)
    task = cli.model.tasks["digits"]
    data, encoder = task.data, task.method.encoder
    data.setup()
    encoder.eval()
    random_init = _scores(encoder, data)
    start = time.perf_counter()
    cli.trainer.fit(cli.model)
    seconds = time.perf_counter() - start
    encoder.eval()
    trained = _scores(encoder, data) | {"train_seconds": seconds}
    return {"simclr": trained, "random_init": random_init, "raw_pixels": _scores(lambda x: x, data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = [run(seed, args.epochs) for seed in seeds]
    summary: dict[str, dict[str, float]] = {}
    for name in runs[0]:
        for metric in runs[0][name]:
            values = [r[name][metric] for r in runs]
            summary.setdefault(name, {})[f"{metric}_mean"] = statistics.mean(values)
            if len(values) > 1:
                summary[name][f"{metric}_std"] = statistics.stdev(values)
    print(f"{'features':<12} {'kNN acc':>9} {'linear acc':>11} {'RankMe':>8}", file=sys.stderr)
    for name, values in summary.items():
        print(
            f"{name:<12} {values['knn_acc_mean']:>9.4f} {values['linear_acc_mean']:>11.4f} "
            f"{values['rankme_mean']:>8.2f}",
            file=sys.stderr,
        )
    record = {
        "benchmark": "core.digits_simclr",
        "config": "selfsup:digits_simclr",
        "device": "cpu",
        "torch": torch.__version__,
        "seeds": seeds,
        "summary": summary,
        "runs": runs,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
